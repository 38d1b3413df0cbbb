// Fused, memory-efficient attention in the style of FlashAttention-2 (Dao 2023), for
// q [B, H, Tq, d], k [B, H, Tk, d], v [B, H, Tk, dv] read through any strides:
//   out = softmax(scale · q kᵀ, masked) v      (with dropout on the weights, if asked)
// without ever holding the [Tq, Tk] scores of more than one tile.
//
// Forward: for each (batch, head) and tile of queries, loop over tiles of keys with an online
// softmax: a running row max m, a running sum l of exp(s - m) and an accumulator of the output,
// rescaled by exp(m_old - m_new) whenever the max grows. It saves the row log-sum-exp
// lse = m + log l, which is all the backward needs to recompute the weights.
// Backward: for each (batch, head), tile of keys, tile of queries, recompute P = exp(S - lse):
//   dV += Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP - D) with D = rowsum(dO ⊙ O),
//   dQ += dS K · scale,  dK += dSᵀ Q · scale.
//
// Causal masks and sliding windows (AttentionProblem::window) bound the keys each query tile can
// see: the forward visits only the key tiles that reach into that band, and the backward, for a
// key tile, only the query tiles that can see it, so a window W costs O(T · W), not O(T²).
//
// A forward with at most 4 queries (decoding: a new token against its cache), no dropout and
// contiguous rows skips the tiles and their packing: each query's scores are dot products with
// the key rows as they lie, then a softmax and a weighted sum of the value rows.
//
// A query that may attend to no key gets a zero output, lse = -inf and zero gradients, never NaN.
// Threads (thread_pool.hpp) split the forward over batch × heads × query tiles and the backward
// over batch × heads; each task's results come from one thread in a fixed order, so they do not
// depend on the thread count. The tile products are tile_product's register-blocked FMA loops.
//
// Dropout on the weights draws no random numbers: whether weight (b, h, i, j) is kept is a hash
// of (seed, b, h, i, j) (attention_dropout_keep), which the backward evaluates again. The weights
// that are kept are scaled by 1 / (1 - p); the softmax's normaliser is that of the weights before
// dropout, as in PyTorch.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

// Element [b, h, t, x] of a [B, H, T, n] operand is
//   data[b * batch_stride + h * head_stride + t * row_stride + x * column_stride]
// A stride of 0 broadcasts.
template <class T>
struct HeadsView {
  T* data;
  int64_t batch_stride;
  int64_t head_stride;
  int64_t row_stride;
  int64_t column_stride;
  T* row(int64_t b, int64_t h, int64_t t) const {
    return data + b * batch_stride + h * head_stride + t * row_stride;
  }
};

struct AttentionProblem {
  int64_t batch = 1, heads = 1, queries = 0, keys = 0, head_dim = 0, value_dim = 0;
  double scale = 1.0;  // of the scores q·k
  // [B, H, Tq, Tk], true = may attend; with data null, every key may be attended
  HeadsView<const bool> mask{nullptr, 0, 0, 0, 0};
  bool causal = false;  // also mask keys after the query (key j > i + query_offset)
  // Sliding-window (local causal) attention, as in Mistral: with window W > 0, query i may attend
  // key j only when p - W < j <= p, p = i + query_offset (its W latest keys, itself included),
  // ANDed with the mask and `causal` (which W > 0 implies). 0: no window. The forward skips, per
  // query tile, the key tiles wholly outside the band, and the backward, per key tile, the query
  // tiles: O(Tq · W), not O(Tq · Tk).
  int64_t window = 0;
  // Where the causal and window bounds put query i among the keys: at position i + query_offset.
  //   0         aligned at the start (PyTorch's is_causal): query i is key i
  //   Tk - Tq   aligned at the end (FlashAttention's, PyTorch's causal_lower_right): the last
  //             query is the last key, as for new tokens after a KV cache
  int64_t query_offset = 0;
  double dropout = 0.0;  // probability of dropping a weight, in [0, 1]
  uint64_t dropout_seed = 0;
  int64_t query_tile = 64;  // queries per tile, a positive multiple of 16
  int64_t key_tile = 64;    // keys per tile, a positive multiple of 16
};

// The factor weight (b, h, i, j) is multiplied by: 1 / (1 - p) if dropout keeps it, else 0.
double attention_dropout_factor(const AttentionProblem& problem, int64_t b, int64_t h, int64_t i,
                                int64_t j);

// out [B, H, Tq, dv]; lse [B, H, Tq] contiguous, or null when no backward will need it.
template <class T>
void flash_attention_forward(const AttentionProblem& problem, const HeadsView<const T>& q,
                             const HeadsView<const T>& k, const HeadsView<const T>& v,
                             const HeadsView<T>& out, T* lse);

// From the forward's q, k, v, out, lse and the output's gradient grad_out, writes dq, dk, dv
// (every element; they must not overlap each other or the inputs).
template <class T>
void flash_attention_backward(const AttentionProblem& problem, const HeadsView<const T>& q,
                              const HeadsView<const T>& k, const HeadsView<const T>& v,
                              const HeadsView<const T>& out, const T* lse,
                              const HeadsView<const T>& grad_out, const HeadsView<T>& dq,
                              const HeadsView<T>& dk, const HeadsView<T>& dv);

// The plain computation the tests compare against: every [Tq, Tk] score of a head at once,
// softmax, dropout, product; and its backward through the full weights (tiles are ignored).
template <class T>
void attention_forward_reference(const AttentionProblem& problem, const HeadsView<const T>& q,
                                 const HeadsView<const T>& k, const HeadsView<const T>& v,
                                 const HeadsView<T>& out, T* lse);
template <class T>
void attention_backward_reference(const AttentionProblem& problem, const HeadsView<const T>& q,
                                  const HeadsView<const T>& k, const HeadsView<const T>& v,
                                  const HeadsView<const T>& grad_out, const HeadsView<T>& dq,
                                  const HeadsView<T>& dk, const HeadsView<T>& dv);

}  // namespace tapegrad::kernels
