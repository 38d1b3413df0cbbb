#include "autograd/ops/dropout.hpp"

#include "autograd/factories.hpp"
#include "autograd/kernels/dropout.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

// x·mask/(1-p) under the call's mask, contiguous, off the tape.
Tensor apply_mask(const Tensor& x, const kernels::DropoutMask& mask, double p) {
  const Tensor xc = contiguous_values(x);
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  dispatch_floating(x.dtype(), "dropout", [&]<class T>() {
    kernels::dropout(xc.data<T>(), out.data<T>(), out.numel(), mask,
                     static_cast<T>(1.0 / (1.0 - p)));
  });
  return out;
}

}  // namespace

Tensor dropout(const Tensor& x, double p, bool training, Generator& generator) {
  if (!(p >= 0.0 && p <= 1.0))
    fail("dropout: probability p = {} is outside [0, 1] (input shape {})", p, x.shape());
  if (!training || p == 0.0) return x;
  if (!is_floating(x.dtype()))
    fail("dropout: expected a float32 or float64 tensor, got {} of shape {}", x.dtype(), x.shape());
  if (p == 1.0) {
    // y = 0 whatever x: ∂L/∂x = 0
    return record(
        "dropout", zeros(x.shape(), {.dtype = x.dtype()}), {x},
        [](const Tensor& g) -> Grads { return {zeros(g.shape(), {.dtype = g.dtype()})}; });
  }
  // One draw from the generator seeds the call's mask: a hash of (seed, element index), which
  // the backward recomputes rather than stores.
  const kernels::DropoutMask mask = kernels::dropout_mask(generator.next_u64(), p);
  // y_i = x_i·m_i/(1-p), with m_i ∈ {0, 1} fixed by the seed (not a function of x), so
  //   ∂y_i/∂x_i = m_i/(1-p)
  //   ∂L/∂x_i = g_i·m_i/(1-p): g dropped by the same mask, recomputed from the seed
  return record("dropout", apply_mask(x, mask, p), {x},
                [mask, p](const Tensor& g) -> Grads { return {apply_mask(g, mask, p)}; });
}

}  // namespace tapegrad
