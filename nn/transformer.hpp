// The transformer encoder (Vaswani et al. 2017, section 3.1), batch first, with PyTorch's names,
// defaults and submodule names, so weights move between the two:
//   post-LN (norm_first = false, the paper):  x = norm1(x + SA(x));  x = norm2(x + FF(x))
//   pre-LN  (norm_first = true):              x = x + SA(norm1(x));  x = x + FF(norm2(x))
// where
//   SA(x) = dropout1(self_attn(x, x, x))
//   FF(x) = dropout2(linear2(dropout(act(linear1(x)))))
// Where dropout1 (dropout2) is the identity (eval mode, or p = 0), the residual x joins in the GEMM
// of out_proj (linear2): no pass of its own.
//
// Masks are bool, true = may attend: src_key_padding_mask [B, T] (true = a real token) and src_mask
// [T, T], [B * H, T, T] or [B, H, T, T]; is_causal adds causal_mask(T).
#pragma once

#include <optional>

#include "nn/dropout.hpp"
#include "nn/feed_forward.hpp"
#include "nn/layer_norm.hpp"
#include "nn/multi_head_attention.hpp"
#include "nn/sequential.hpp"

namespace tapegrad::nn {

struct TransformerEncoderLayerOptions {
  int64_t d_model = 0;  // required
  int64_t nhead = 0;    // required, divides d_model
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  Activation activation = Activation::ReLU;
  double layer_norm_eps = 1e-5;
  bool norm_first = false;
};

struct TransformerEncoderForwardOptions {
  Tensor src_key_padding_mask = {};  // [B, T] bool, true = a real token
  Tensor src_mask = {};  // [T, T], [B * H, T, T] or [B, H, T, T] bool, true = may attend
  bool is_causal = false;
};

class TransformerEncoderLayer : public Module {
 public:
  explicit TransformerEncoderLayer(TransformerEncoderLayerOptions options);

  Tensor forward(const Tensor& src,
                 const TransformerEncoderForwardOptions& options = {});  // [B, T, C]
  Tensor operator()(const Tensor& src, const TransformerEncoderForwardOptions& options = {}) {
    return forward(src, options);
  }

  TransformerEncoderLayerOptions options;
  MultiHeadAttention self_attn;
  // Registered as PyTorch's linear1, dropout and linear2 (not under a name of its own).
  FeedForward feed_forward;
  LayerNorm norm1, norm2;
  Dropout dropout1, dropout2;

 private:
  // residual + SA(x), residual + FF(x)
  Tensor add_self_attention(const Tensor& residual, const Tensor& x,
                            const TransformerEncoderForwardOptions& masks);
  Tensor add_feed_forward(const Tensor& residual, const Tensor& x);
};

// num_layers layers of the same options (each with its own weights), named layers.0, layers.1, ...,
// and an optional final LayerNorm named norm (useful after pre-LN layers).
class TransformerEncoder : public Module {
 public:
  TransformerEncoder(TransformerEncoderLayerOptions layer_options, int64_t num_layers,
                     std::optional<LayerNormOptions> final_norm = std::nullopt);

  Tensor forward(const Tensor& src,
                 const TransformerEncoderForwardOptions& options = {});  // [B, T, C]
  Tensor operator()(const Tensor& src, const TransformerEncoderForwardOptions& options = {}) {
    return forward(src, options);
  }

  ModuleList<TransformerEncoderLayer> layers;
  std::optional<LayerNorm> norm;
};

}  // namespace tapegrad::nn
