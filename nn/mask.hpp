// Attention masks. A mask is a bool tensor where true = may attend, everywhere in tapegrad
// (unlike libtorch's MultiheadAttention key_padding_mask, where true = ignore). Combine masks
// with && and ||: broadcasting lines them up.
//   causal_mask(T)                                          [T, T]     true where key <= query
//   window_mask(T, T, W)                                    [T, T]     true where
//                                                                      query - W < key <= query
//   padding_mask(lengths, T)                                [B, T]     true for the first
//                                                                      lengths[b] tokens (real)
//   causal_mask(T) && padding_mask(lengths, T).unsqueeze(1) [B, T, T]
//
// What each attention entry point accepts, and how it broadcasts against the scores
// [B, H, Tq, Tk]:
//   scaled_dot_product_attention  any bool mask broadcastable to [..., Tq, Tk] (NumPy rules):
//                                 [Tq, Tk] is shared by every batch and head, [B, 1, Tq, Tk]
//                                 by every head, [B, H, Tq, Tk] is one mask per head.
//   MultiHeadAttention            key_padding_mask [B, Tk] is seen as [B, 1, 1, Tk] (every head
//                                 and query); attn_mask [Tq, Tk], [B * H, Tq, Tk] (PyTorch's
//                                 3-D form) or [B, H, Tq, Tk]; the two are combined with &&.
//   TransformerEncoderLayer       src_key_padding_mask [B, T], src_mask [T, T]: as above.
#pragma once

#include <vector>

#include "autograd/tensor.hpp"

namespace tapegrad::nn {

// [query_length, key_length], true where key <= query (PyTorch's top-left alignment when the
// lengths differ).
Tensor causal_mask(int64_t query_length, int64_t key_length);
inline Tensor causal_mask(int64_t length) { return causal_mask(length, length); }

// [query_length, key_length], true where query - window < key <= query: the band that a
// sliding window of `window` >= 1 keys lets each query see (aligned as causal_mask).
Tensor window_mask(int64_t query_length, int64_t key_length, int64_t window);

// [B, length] from lengths [B] (int64), true at positions t < lengths[b].
Tensor padding_mask(const Tensor& lengths, int64_t length);
Tensor padding_mask(const std::vector<int64_t>& lengths, int64_t length);

}  // namespace tapegrad::nn
