#include "nn/transformer.hpp"

#include "autograd/ops/elementwise.hpp"

namespace tapegrad::nn {
namespace {

const TransformerEncoderLayerOptions& checked(const TransformerEncoderLayerOptions& options) {
  if (options.d_model <= 0 || options.nhead <= 0 || options.dim_feedforward <= 0)
    fail("nn.TransformerEncoderLayer: d_model {}, nhead {} and dim_feedforward {} must be positive",
         options.d_model, options.nhead, options.dim_feedforward);
  return options;
}

}  // namespace

TransformerEncoderLayer::TransformerEncoderLayer(TransformerEncoderLayerOptions options_)
    : options(checked(options_)),
      self_attn(options.d_model, options.nhead, {.dropout = options.dropout}),
      feed_forward(options.d_model, options.dim_feedforward,
                   {.activation = options.activation, .dropout = options.dropout}),
      norm1(options.d_model, {.eps = options.layer_norm_eps}),
      norm2(options.d_model, {.eps = options.layer_norm_eps}),
      dropout1(options.dropout),
      dropout2(options.dropout) {
  register_modules({{"self_attn", self_attn},
                    {"linear1", feed_forward.linear1},
                    {"dropout", feed_forward.dropout},
                    {"linear2", feed_forward.linear2},
                    {"norm1", norm1},
                    {"norm2", norm2},
                    {"dropout1", dropout1},
                    {"dropout2", dropout2}});
}

// residual + SA(x), SA(x) = dropout1(self_attn(x, x, x)): [B, T, C] -> [B, T, C]
Tensor TransformerEncoderLayer::add_self_attention(const Tensor& residual, const Tensor& x,
                                                   const TransformerEncoderForwardOptions& masks) {
  const bool fused = dropout1.is_identity();  // then out_proj's GEMM adds the residual
  const AttentionOutput attention = self_attn(x, x, x,
                                              {.key_padding_mask = masks.src_key_padding_mask,
                                               .attn_mask = masks.src_mask,
                                               .is_causal = masks.is_causal,
                                               .need_weights = false,
                                               .residual = fused ? residual : Tensor()});
  return fused ? attention.output : residual + dropout1(attention.output);
}

// residual + FF(x), FF(x) = dropout2(linear2(dropout(act(linear1(x))))): [B, T, C] -> [B, T, C]
Tensor TransformerEncoderLayer::add_feed_forward(const Tensor& residual, const Tensor& x) {
  if (dropout2.is_identity()) return feed_forward(x, residual);  // linear2's GEMM adds it
  return residual + dropout2(feed_forward(x));
}

Tensor TransformerEncoderLayer::forward(const Tensor& src,
                                        const TransformerEncoderForwardOptions& masks) {
  Tensor x = src;  // [B, T, C]
  if (options.norm_first) {
    x = add_self_attention(x, norm1(x), masks);
    x = add_feed_forward(x, norm2(x));
  } else {
    x = norm1(add_self_attention(x, x, masks));
    x = norm2(add_feed_forward(x, x));
  }
  return x;  // [B, T, C]
}

TransformerEncoder::TransformerEncoder(TransformerEncoderLayerOptions layer_options,
                                       int64_t num_layers,
                                       std::optional<LayerNormOptions> final_norm) {
  if (num_layers <= 0) fail("nn.TransformerEncoder: num_layers {} must be positive", num_layers);
  for (int64_t i = 0; i < num_layers; ++i) layers.emplace(layer_options);
  register_module("layers", layers);
  if (final_norm) {
    norm.emplace(layer_options.d_model, *final_norm);
    register_module("norm", *norm);
  }
}

Tensor TransformerEncoder::forward(const Tensor& src,
                                   const TransformerEncoderForwardOptions& masks) {
  Tensor x = src;  // [B, T, C]
  for (TransformerEncoderLayer& layer : layers) x = layer(x, masks);
  return norm ? (*norm)(x) : x;  // [B, T, C]
}

}  // namespace tapegrad::nn
