// softmax and log_softmax along any dim. Both subtract the max first (log_softmax through
// log-sum-exp), and a line that is -inf everywhere (a fully masked attention row) gives zeros from
// softmax, -inf from log_softmax, and a zero gradient from both: never NaN.
#pragma once

#include "autograd/tensor.hpp"

namespace tapegrad {

Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

}  // namespace tapegrad
