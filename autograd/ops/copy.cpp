#include "autograd/ops/copy.hpp"

#include "autograd/kernels/strided_copy.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

// A contiguous copy of x's values in `dtype`, off the tape.
Tensor copy_values(const Tensor& x, DType dtype) {
  Tensor out = Tensor::empty(x.shape(), dtype);
  dispatch_all(x.dtype(), [&]<class Src>() {
    dispatch_all(dtype, [&]<class Dst>() {
      kernels::strided_copy(x.data<Src>(), x.shape(), x.strides(), out.data<Dst>());
    });
  });
  return out;
}

}  // namespace

Tensor clone(const Tensor& x) {
  // out = x, so ∂L/∂x = g
  return record("clone", copy_values(x, x.dtype()), {x},
                [](const Tensor& g) -> Grads { return {g}; });
}

Tensor contiguous(const Tensor& x) { return x.is_contiguous() ? x : clone(x); }

Tensor contiguous_values(const Tensor& x) { return x.is_contiguous() ? x : clone(x.detach()); }

Tensor to(const Tensor& x, DType dtype) {
  if (x.requires_grad() && !is_floating(dtype))
    fail("to: a tensor that requires grad cannot become {} (only float32 or float64)", dtype);
  // out = x in another dtype, so ∂L/∂x = g, converted back to x's dtype
  return record("to", copy_values(x, dtype), {x},
                [input_dtype = x.dtype()](const Tensor& g) -> Grads {
                  return {copy_values(g, input_dtype)};
                });
}

void copy_into(const Tensor& dst, const Tensor& src) {
  if (dst.shape() != src.shape())
    fail("copy_into: shapes differ (destination {}, source {})", dst.shape(), src.shape());
  if (!dst.is_contiguous())
    fail("copy_into: the destination of shape {} is not contiguous", dst.shape());
  dispatch_all(src.dtype(), [&]<class Src>() {
    dispatch_all(dst.dtype(), [&]<class Dst>() {
      kernels::strided_copy(src.data<Src>(), src.shape(), src.strides(), dst.data<Dst>());
    });
  });
  dst.increment_version();
}

}  // namespace tapegrad
