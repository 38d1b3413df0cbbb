// Embedding(num_embeddings, embedding_dim): a table of learned vectors looked up by int64 ids, as
// PyTorch's: weight N(0, 1), and the padding_idx row (if given) zeroed at init and never updated
// by the gradient.
//   Embedding tok(vocab, 64);  tok(ids [B, T]) -> [B, T, 64]
#pragma once

#include "autograd/ops/embedding.hpp"
#include "nn/module.hpp"

namespace tapegrad::nn {

class Embedding : public CallableModule<Embedding> {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, EmbeddingOptions options = {});

  Tensor forward(const Tensor& ids);  // int64 [...] -> [..., embedding_dim]

  EmbeddingOptions options;  // padding_idx made non-negative
  Tensor weight;             // [num_embeddings, embedding_dim]
};

}  // namespace tapegrad::nn
