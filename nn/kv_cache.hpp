// The key/value cache of autoregressive decoding: each attention layer keeps the keys and values of
// every token it has seen, so that a new token attends to them without computing them again.
//
// One KVCache per layer holds keys and values [B, H, max_len, head_dim], preallocated; rows
// 0..length()-1 are filled. cached_self_attention projects the new tokens x [B, T, E] (their
// positions are length()..length()+T-1), appends their keys and values, and lets them attend over
// all length()+T rows, read in place by the fused kernel. Prefill a prompt in one call, then one
// token per call: the same values as the uncached forward over the whole sequence.
//
// Causality with a cache: the T queries are the LAST T of the Tk = length()+T keys, so query i may
// attend to keys j <= i + (Tk - T). The fused kernel's is_causal aligns query i with key i (top
// left), which is right only when Tk == T (an empty cache); a single new token needs no mask; a
// chunk of T > 1 tokens after a filled cache gets the bottom-right aligned mask explicitly.
//
// The cached path is for inference: it records nothing on the tape (it runs under NoGradGuard),
// since the cache's rows are written in place. A sliding-window (ring buffer) cache would be a
// second cache class beside this one, whose rows wrap around max_len; this one only grows.
#pragma once

#include <vector>

#include "nn/multi_head_attention.hpp"

namespace tapegrad::nn {

class KVCache {
 public:
  KVCache(int64_t batch, int64_t heads, int64_t max_len, int64_t head_dim, DType dtype);

  int64_t length() const { return length_; }         // tokens cached
  int64_t max_len() const { return keys_.size(2); }  // tokens it can hold
  // Writes k, v [B, H, T, head_dim] (any strides) at rows length()..length()+T-1; an error if
  // length() + T exceeds max_len().
  void append(const Tensor& k, const Tensor& v);
  Tensor keys() const;    // [B, H, length(), head_dim], a view of the cache
  Tensor values() const;  // [B, H, length(), head_dim], a view of the cache
  void clear() { length_ = 0; }

 private:
  Tensor keys_, values_;  // [B, H, max_len, head_dim], contiguous
  int64_t length_ = 0;
};

// Self-attention of the new tokens x [B, T, E] over the cached ones and themselves, causal, with
// the weights of `attention` (packed in_proj: kdim == vdim == embed_dim); appends their keys and
// values to `cache`. Returns [B, T, E]; `residual` [B, T, E], if given, is added by out_proj's
// GEMM.
Tensor cached_self_attention(const MultiHeadAttention& attention, const Tensor& x, KVCache& cache,
                             const Tensor& residual = {});

}  // namespace tapegrad::nn
