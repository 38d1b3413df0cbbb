#include "optim/clip_grad.hpp"

#include <cmath>

#include "autograd/kernels/map.hpp"
#include "autograd/kernels/reduce.hpp"

namespace tapegrad::optim {

namespace {

// Calls f(grad data, n) with T the dtype for every parameter's gradient. Backward gives leaves
// contiguous gradients of their own; one set by hand that is not contiguous is an error, since
// clipping writes through it.
template <class F>
void for_each_gradient(const std::vector<Tensor>& params, std::string_view op, const F& f) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Tensor grad = params[i].defined() ? params[i].grad() : Tensor();
    if (!grad.defined()) continue;
    if (!grad.is_contiguous())
      fail("{}: the gradient of parameter {} (shape {}) is not contiguous", op, i, grad.shape());
    dispatch_floating(grad.dtype(), op, [&]<class T>() { f(grad.data<T>(), grad.numel()); });
  }
}

}  // namespace

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, double norm_type) {
  constexpr std::string_view op = "optim.clip_grad_norm";
  if (!(max_norm >= 0)) fail("{}: max_norm must be >= 0, got {}", op, max_norm);
  if (!(norm_type > 0)) fail("{}: norm_type must be > 0 or INFINITY, got {}", op, norm_type);
  const bool infinity_norm = std::isinf(norm_type);

  // max |g| for the infinity norm, else Σ |g|^p; each gradient reduced in its dtype, then in
  // double.
  double accumulated = 0;
  for_each_gradient(params, op, [&]<class T>(const T* grad, int64_t n) {
    const kernels::Contiguous<T> row{n};
    const auto abs_at = [&]<class V>(kernels::Lane<V>, int64_t i) {
      return xsimd::abs(kernels::load_lane<V>(grad + i));
    };
    if (infinity_norm) {
      accumulated =
          kernels::Maximum{}(accumulated, double(row.reduce(T(0), abs_at, kernels::Maximum{})));
    } else if (norm_type == 2) {
      accumulated += double(kernels::dot(grad, grad, n));
    } else {
      accumulated += double(row.reduce(
          T(0),
          [&]<class V>(kernels::Lane<V> lane, int64_t i) {
            return kernels::Pow<T>{T(norm_type)}(abs_at(lane, i));
          },
          kernels::Add{}));
    }
  });
  const double total = infinity_norm ? accumulated : std::pow(accumulated, 1 / norm_type);

  const double clip_coef = max_norm / (total + 1e-6);
  if (std::isfinite(total) && clip_coef < 1) {
    for_each_gradient(params, op, [&]<class T>(T* grad, int64_t n) {
      kernels::unary(grad, grad, n, kernels::Scale<T>{T(clip_coef)});
    });
  }
  return total;
}

void clip_grad_value(const std::vector<Tensor>& params, double clip_value) {
  constexpr std::string_view op = "optim.clip_grad_value";
  if (!(clip_value >= 0)) fail("{}: clip_value must be >= 0, got {}", op, clip_value);
  for_each_gradient(params, op, [&]<class T>(T* grad, int64_t n) {
    kernels::unary(grad, grad, n, kernels::Clamp<T>{T(-clip_value), T(clip_value)});
  });
}

}  // namespace tapegrad::optim
