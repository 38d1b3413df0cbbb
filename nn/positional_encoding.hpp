// Position information added to token embeddings x [B, T, d_model] (any leading dims):
//   SinusoidalPositionalEncoding: the fixed table of "Attention Is All You Need",
//     pe[pos, 2i] = sin(pos / 10000^(2i/d)), pe[pos, 2i+1] = cos(pos / 10000^(2i/d)),
//     then dropout, as the PyTorch tutorial's PositionalEncoding. The table is computed in
//     float64 and stored in the module's dtype (float32, or what to() makes it); it is a
//     non-persistent buffer: not in state_dict, as PyTorch users register such a table;
//   LearnedPositionalEmbedding: a learned table, initialised N(0, 0.02²) as GPT-2's wpe (not
//     PyTorch Embedding's N(0, 1), which would drown the token embeddings it is added to).
// Both add rows 0..T-1 of their table; T > max_len is an error.
#pragma once

#include "nn/dropout.hpp"
#include "nn/module.hpp"

namespace tapegrad::nn {

class SinusoidalPositionalEncoding : public CallableModule<SinusoidalPositionalEncoding> {
 public:
  SinusoidalPositionalEncoding(int64_t d_model, int64_t max_len = 5000, double dropout = 0.0);

  Tensor forward(const Tensor& x);  // [..., T, d_model] -> the same shape
  void to(DType dtype) override;    // the table computed again, in float64, then stored in dtype

  Tensor pe;  // [max_len, d_model], a non-persistent buffer
  Dropout dropout;
};

class LearnedPositionalEmbedding : public CallableModule<LearnedPositionalEmbedding> {
 public:
  LearnedPositionalEmbedding(int64_t max_len, int64_t d_model);

  Tensor forward(const Tensor& x);  // [..., T, d_model] -> the same shape

  Tensor weight;  // [max_len, d_model]
};

}  // namespace tapegrad::nn
