// Copies: clone, contiguous and dtype conversion. Each is differentiable (the gradient of a copy
// is the gradient itself, converted back to the input's dtype).
#pragma once

#include "autograd/tensor.hpp"

namespace tapegrad {

Tensor clone(const Tensor& x);       // a contiguous copy with storage of its own
Tensor contiguous(const Tensor& x);  // x itself if already contiguous, else clone(x)
Tensor to(const Tensor& x, DType dtype);

// x's values, contiguous, for a kernel to read before the op returns: x itself if already
// contiguous (no new handle, nothing allocated), else a copy made off the tape. Not, as it is, for
// a tensor a backward keeps: that one must be cut from the tape (saved(contiguous_values(x)),
// saved_input), nor for an op's output.
Tensor contiguous_values(const Tensor& x);

// Writes src's values (converted to dst's dtype) into dst's memory, off the tape: loading
// weights into existing parameters, so that every handle on them sees the new values. Counts the
// write in dst.version().
void copy_into(const Tensor& dst, const Tensor& src);

}  // namespace tapegrad
