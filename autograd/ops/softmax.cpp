#include "autograd/ops/softmax.hpp"

#include "autograd/kernels/softmax.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

// x's shape seen as [outer, n, inner] around `dim`.
struct Lines {
  int64_t outer = 1, n = 1, inner = 1;
};

Lines lines_around(const Shape& shape, int64_t dim) {
  Lines lines;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < dim)
      lines.outer *= shape[d];
    else if (d == dim)
      lines.n = shape[d];
    else
      lines.inner *= shape[d];
  }
  return lines;
}

// kernel(x, outer, n, inner, y) on contiguous x, off the tape.
template <class Kernel>
Tensor apply_along(std::string_view op, const Tensor& x, const Lines& lines, Kernel kernel) {
  const Tensor xc = contiguous_values(x);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    kernel(xc.data<T>(), lines.outer, lines.n, lines.inner, y.data<T>());
  });
  return y;
}

// backward_kernel(y, g, outer, n, inner, dx) on the saved output y and contiguous g.
template <class BackwardKernel>
Tensor apply_backward_along(std::string_view op, const Tensor& y, const Tensor& g,
                            const Lines& lines, BackwardKernel backward_kernel) {
  const Tensor gc = contiguous(g);
  Tensor dx = Tensor::empty(y.shape(), y.dtype());
  dispatch_floating(y.dtype(), op, [&]<class T>() {
    backward_kernel(y.data<T>(), gc.data<T>(), lines.outer, lines.n, lines.inner, dx.data<T>());
  });
  return dx;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  const Lines lines = lines_around(x.shape(), normalize_dim(dim, x.dim(), "softmax"));
  const Tensor y = apply_along("softmax", x, lines,
                               [](const auto* in, auto... args) { kernels::softmax(in, args...); });
  // Along a line, y_i = e^(x_i) / Σ_k e^(x_k):
  //   ∂y_i/∂x_j = y_i·δ_ij - y_i·y_j = y_i·(δ_ij - y_j)
  //   ∂L/∂x_j = Σ_i g_i·y_i·(δ_ij - y_j) = y_j·g_j - y_j·Σ_i g_i·y_i
  //   dx = y ⊙ (g - Σ g·y)        (softmax_backward; a fully masked line, y = 0, gives 0)
  return record("softmax", y, {x}, [y = saved(y), lines](const Tensor& g) -> Grads {
    return {apply_backward_along("softmax", y, g, lines, [](const auto* out, auto... args) {
      kernels::softmax_backward(out, args...);
    })};
  });
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  const Lines lines = lines_around(x.shape(), normalize_dim(dim, x.dim(), "log_softmax"));
  const Tensor y = apply_along("log_softmax", x, lines, [](const auto* in, auto... args) {
    kernels::log_softmax(in, args...);
  });
  // Along a line, y_i = x_i - log Σ_k e^(x_k), and ∂/∂x_j log Σ_k e^(x_k) = softmax(x)_j = e^(y_j):
  //   ∂y_i/∂x_j = δ_ij - e^(y_j)
  //   ∂L/∂x_j = Σ_i g_i·(δ_ij - e^(y_j)) = g_j - e^(y_j)·Σ_i g_i
  //   dx = g - exp(y)·Σ g         (a fully masked line, y = -inf, depends on no input: 0)
  return record("log_softmax", y, {x}, [y = saved(y), lines](const Tensor& g) -> Grads {
    return {apply_backward_along("log_softmax", y, g, lines, [](const auto* out, auto... args) {
      kernels::log_softmax_backward(out, args...);
    })};
  });
}

}  // namespace tapegrad
