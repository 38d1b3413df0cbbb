// The key/value cache of autoregressive decoding: each attention layer keeps the keys and values of
// every token it has seen, so that a new token attends to them without computing them again.
//
// One KVCache per layer holds keys and values [B, H, max_len, head_dim], preallocated; rows
// 0..length()-1 are filled (with a window, see below). cached_self_attention projects the new
// tokens x [B, T, E] (their positions are length()..length()+T-1), appends their keys and values,
// and lets them attend over all length()+T rows, read in place by the fused kernel. Prefill a
// prompt in one call, then one token per call: the same values as the uncached forward over the
// whole sequence.
//
// Causality with a cache: the T queries are the LAST T of the Tk keys, so query i may attend to
// keys j <= i + (Tk - T): fused_attention's lower_right alignment. A single new token sees every
// cached key.
//
// Sliding window W (DecoderLMOptions::window): a query sees only its W latest keys, so the cache
// keeps only the W latest tokens, in a ring buffer of W rows: token p lives in row p % W. Memory
// stays O(W) however long the text. One new token attends to the W rows as they lie (attention
// does not depend on the order of its keys); a chunk of several tokens after a wrapped ring sees
// the rows put back in the order of positions (a copy) and its own, with the window's bounds.
//
// The cached path is for inference: it records nothing on the tape (it runs under NoGradGuard),
// since the cache's rows are written in place.
#pragma once

#include <algorithm>
#include <vector>

#include "nn/multi_head_attention.hpp"

namespace tapegrad::nn {

class KVCache {
 public:
  // Room for max_len tokens in all; with window W > 0, only the W latest are kept (a ring buffer
  // of min(W, max_len) rows).
  KVCache(int64_t batch, int64_t heads, int64_t max_len, int64_t head_dim, DType dtype,
          int64_t window = 0);

  int64_t length() const { return length_; }          // tokens seen (positions 0..length()-1)
  int64_t max_len() const { return max_len_; }        // tokens it can see in all
  int64_t window() const { return window_; }          // 0: none
  int64_t capacity() const { return keys_.size(2); }  // rows: max_len, or min(W, max_len)
  int64_t rows() const { return std::min(length_, capacity()); }  // rows filled
  // Writes k, v [B, H, T, head_dim] (any strides) as the tokens length()..length()+T-1 (with a
  // window, only the last capacity() of them); an error if length() + T exceeds max_len().
  void append(const Tensor& k, const Tensor& v);
  // The filled rows [B, H, rows(), head_dim] as they lie: a view, in the order of positions until
  // a window's ring wraps, then rotated (token p in row p % capacity()).
  Tensor key_rows() const;
  Tensor value_rows() const;
  // The same rows in the order of positions: key_rows() itself until the ring wraps, then a copy.
  Tensor keys() const;
  Tensor values() const;
  void clear() { length_ = 0; }
  // Forgets the tokens from `length` on, as Hugging Face's DynamicCache.crop (to take back tokens
  // or to decode again from a point); an error once a window's ring has dropped the rows needed.
  void crop(int64_t length);

 private:
  Tensor in_order(const Tensor& rows) const;

  Tensor keys_, values_;  // [B, H, capacity, head_dim], contiguous
  int64_t max_len_, window_;
  int64_t length_ = 0;
};

// Self-attention of the new tokens x [B, T, E] over the cached ones and themselves, causal (and
// within the cache's window, if it has one), with the weights of `attention` (packed in_proj:
// kdim == vdim == embed_dim); appends their keys and values to `cache`. Returns [B, T, E];
// `residual` [B, T, E], if given, is added by out_proj's GEMM. The attention's head_gate, if set,
// multiplies each head's output as in its forward.
Tensor cached_self_attention(const MultiHeadAttention& attention, const Tensor& x, KVCache& cache,
                             const Tensor& residual = {});

}  // namespace tapegrad::nn
