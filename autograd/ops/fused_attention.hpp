// Attention as one op: out = dropout(softmax(scale · q kᵀ, masked)) v, computed tile by tile
// (kernels/flash_attention.hpp) so that the [Tq, Tk] weights never exist. The tape keeps q, k, v,
// the output and one log-sum-exp per query, O(T) memory, and the backward recomputes the weights.
// The same values as the plain path of nn/attention.cpp (matmul, masked_fill, softmax, matmul),
// which stays for callers that want the weights.
//
// A query that may attend to no key gets a zero output and zero gradients, never NaN.
//   auto out = fused_attention(q, k, v, {.mask = padding.view({B, 1, 1, T}), .is_causal = true});
//   auto local = fused_attention(q, k, v, {.window = 256});  // each query sees its 256 latest keys
#pragma once

#include <cstdint>
#include <optional>

#include "autograd/tensor.hpp"

namespace tapegrad {

struct FusedAttentionOptions {
  Tensor mask = {};        // bool, true = may attend, broadcastable to [B, H, Tq, Tk]; or none
  bool is_causal = false;  // also mask keys after the query (key j > query i; see lower_right)
  // Sliding window W > 0: query i attends only keys i - W < j <= i (implies is_causal; combined
  // with mask by &&); 0 = none. Costs O(T · W): tiles outside the band are skipped.
  int64_t window = 0;
  // How is_causal and window align queries with keys when Tq != Tk. false: query i is key i
  // (upper left, PyTorch's is_causal). true: the last query is the last key, query i is key
  // i + Tk - Tq (lower right, PyTorch's causal_lower_right), as new tokens after a KV cache are.
  bool lower_right = false;
  std::optional<double> scale = std::nullopt;  // of the scores; default 1/sqrt(d)
  double dropout_p = 0.0;                      // on the weights; callers pass 0 in eval mode
  uint64_t dropout_seed = 0;                   // the same seed drops the same weights
};

// q [B, H, Tq, d], k [B, H, Tk, d], v [B, H, Tk, dv], any strides -> [B, H, Tq, dv], laid out in
// memory as [B, Tq, H, dv]: out.transpose(1, 2).view({B, Tq, H * dv}) merges the heads for free.
// The gradients of q, k and v come laid out [B, T, H, *] in the same way.
Tensor fused_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                       const FusedAttentionOptions& options = {});

// Self-attention on one packed projection qkv [B, T, 3, H, d] (queries, keys and values side by
// side, as MultiHeadAttention's in_proj makes them): fused_attention of its three slices, read in
// place. Its gradient is one [B, T, 3, H, d] tensor whose elements the kernel writes once each.
Tensor fused_attention_packed(const Tensor& qkv, const FusedAttentionOptions& options = {});

}  // namespace tapegrad
