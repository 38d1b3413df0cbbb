#include "nn/feed_forward.hpp"

#include "autograd/ops/linear.hpp"
#include "autograd/ops/unary.hpp"

namespace tapegrad::nn {

Tensor activate(const Tensor& x, Activation activation) {
  switch (activation) {
    case Activation::ReLU:
      return relu(x);
    case Activation::GELU:
      return gelu(x);
  }
  fail("nn.FeedForward: unknown activation {}", static_cast<int>(activation));
}

FeedForward::FeedForward(int64_t d_model, int64_t dim_feedforward, FeedForwardOptions options_)
    : options(options_),
      linear1(d_model, dim_feedforward),
      dropout(options_.dropout),
      linear2(dim_feedforward, d_model) {
  register_modules({{"linear1", linear1}, {"dropout", dropout}, {"linear2", linear2}});
}

Tensor FeedForward::forward(const Tensor& x, const Tensor& residual) {
  // [B, T, dim_feedforward]; relu rides on linear1's float GEMM, GELU (or int8) takes a pass of
  // its own
  const Tensor hidden = options.activation == Activation::ReLU && !linear1.is_quantized()
                            ? linear_relu(x, linear1.weight, linear1.bias)
                            : activate(linear1(x), options.activation);
  return linear2(dropout(hidden), residual);  // [B, T, d_model]
}

}  // namespace tapegrad::nn
