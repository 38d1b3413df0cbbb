// The position-wise feed-forward block of a transformer (Vaswani et al. 2017, section 3.3),
// applied to every token alone:
//   FFN(x) = linear2(dropout(activation(linear1(x))))
// The submodule names are PyTorch's TransformerEncoderLayer's: linear1, dropout, linear2.
#pragma once

#include "nn/dropout.hpp"
#include "nn/linear.hpp"

namespace tapegrad::nn {

enum class Activation { ReLU, GELU };

Tensor activate(const Tensor& x, Activation activation);

struct FeedForwardOptions {
  Activation activation = Activation::ReLU;  // PyTorch's transformer default
  double dropout = 0.1;
};

class FeedForward : public Module {
 public:
  FeedForward(int64_t d_model, int64_t dim_feedforward, FeedForwardOptions options = {});

  // [B, T, d_model] -> [B, T, d_model]; a residual of that shape is added by linear2's GEMM as it
  // stores (x + FFN(x) without a pass of its own)
  Tensor forward(const Tensor& x, const Tensor& residual = {});
  Tensor operator()(const Tensor& x, const Tensor& residual = {}) { return forward(x, residual); }

  FeedForwardOptions options;
  Linear linear1;  // d_model -> dim_feedforward
  Dropout dropout;
  Linear linear2;  // dim_feedforward -> d_model
};

}  // namespace tapegrad::nn
