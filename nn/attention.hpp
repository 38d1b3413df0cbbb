// Scaled dot-product attention (Vaswani et al. 2017, eq. 1):
//   Attention(Q, K, V) = softmax(Q Kᵀ / sqrt(d_k)) V
// For q and k of unit-variance entries, the 1/sqrt(d_k) keeps the scores' variance near 1
// whatever d_k: without it, large d_k pushes softmax into saturation (one-hot weights, vanishing
// gradients; docs/attention.md measures it).
//
// Masks are bool, true = may attend (see nn/mask.hpp for the shapes each entry point takes). A
// query with no key it may attend to gets a zero output row and zero gradients, never NaN.
//
// Two paths give the same values. Without need_weights, the fused one (autograd/ops/
// fused_attention.hpp) never forms the [..., Tq, Tk] weights and draws its dropout from a hash
// seeded by one draw of the default generator; with need_weights, the plain one: matmul,
// masked_fill, softmax, dropout, matmul.
#pragma once

#include <optional>

#include "autograd/ops/fused_attention.hpp"
#include "nn/module.hpp"

namespace tapegrad::nn {

struct ScaledDotProductAttentionOptions {
  Tensor mask = {};        // bool, broadcastable to [..., Tq, Tk]; undefined: attend to all
  bool is_causal = false;  // also mask keys after the query (combined with mask by &&)
  // Sliding window W > 0: query i sees only keys i - W < j <= i (implies is_causal; combined with
  // mask by &&); 0 = none. The fused path skips what lies outside the band (O(T · W)); the plain
  // one masks with window_mask (nn/mask.hpp).
  int64_t window = 0;
  double dropout_p = 0.0;                      // on the attention weights, while training
  std::optional<double> scale = std::nullopt;  // default 1/sqrt(d)
  bool need_weights = false;
  bool training = true;
};

struct AttentionOutput {
  Tensor output = {};   // [..., Tq, dv]
  Tensor weights = {};  // [..., Tq, Tk] as applied to V (after dropout); if need_weights
};

// q [..., Tq, d], k [..., Tk, d], v [..., Tk, dv]; leading dims broadcast.
AttentionOutput scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const ScaledDotProductAttentionOptions& options = {});

// The fused path's options for these: dropout only while training, seeded by one draw of the
// default generator.
FusedAttentionOptions fused_attention_options(const ScaledDotProductAttentionOptions& options);

// What a call of the module decides; dropout is the module's own, applied in training mode only.
struct AttentionForwardOptions {
  Tensor mask = {};
  bool is_causal = false;
  int64_t window = 0;  // sliding window, as in ScaledDotProductAttentionOptions
  std::optional<double> scale = std::nullopt;
  bool need_weights = false;
};

class ScaledDotProductAttention : public Module {
 public:
  explicit ScaledDotProductAttention(double dropout = 0.0);

  AttentionOutput forward(const Tensor& q, const Tensor& k, const Tensor& v,
                          const AttentionForwardOptions& options = {});
  AttentionOutput operator()(const Tensor& q, const Tensor& k, const Tensor& v,
                             const AttentionForwardOptions& options = {}) {
    return forward(q, k, v, options);
  }

  double dropout;
};

}  // namespace tapegrad::nn
