#include "autograd/ops/dropout.hpp"

#include "autograd/kernels/functors.hpp"
#include "autograd/kernels/map.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/ops/elementwise.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {

Tensor dropout(const Tensor& x, double p, bool training, Generator& generator) {
  if (!(p >= 0.0 && p <= 1.0))
    fail("dropout: probability p = {} is outside [0, 1] (input shape {})", p, x.shape());
  if (!training || p == 0.0) return x;
  // scaled_mask = 1/(1-p) where kept (probability 1-p), 0 where dropped (everywhere when p == 1,
  // as uniform() < 1)
  const Tensor xc = contiguous(x.detach());
  Tensor scaled_mask = Tensor::empty(x.shape(), x.dtype());
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  dispatch_floating(x.dtype(), "dropout", [&]<class T>() {
    T* mask = scaled_mask.data<T>();
    const T kept = static_cast<T>(1.0 / (1.0 - p));
    for (int64_t i = 0; i < x.numel(); ++i) mask[i] = generator.uniform() < p ? T(0) : kept;
    kernels::binary(xc.data<T>(), 1, mask, 1, out.data<T>(), x.numel(), kernels::Mul{});
  });
  // d/dx dropout(x) = scaled_mask
  return record("dropout", out, {x},
                [scaled_mask](const Tensor& g) -> Grads { return {mul(g, scaled_mask)}; });
}

}  // namespace tapegrad
