#include "nn/embedding.hpp"

#include <algorithm>

#include "autograd/factories.hpp"

namespace tapegrad::nn {

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim, EmbeddingOptions options_)
    : options(options_) {
  if (num_embeddings <= 0 || embedding_dim <= 0)
    fail("nn.Embedding: num_embeddings {} and embedding_dim {} must be positive", num_embeddings,
         embedding_dim);
  if (options.padding_idx) {
    const int64_t padding_idx = *options.padding_idx;
    if (padding_idx < -num_embeddings || padding_idx >= num_embeddings)
      fail("nn.Embedding: padding_idx {} is out of range for {} embeddings", padding_idx,
           num_embeddings);
    options.padding_idx = padding_idx < 0 ? padding_idx + num_embeddings : padding_idx;
  }
  weight = randn({num_embeddings, embedding_dim});
  if (options.padding_idx) {
    float* padding_row = weight.data<float>() + *options.padding_idx * embedding_dim;
    std::fill(padding_row, padding_row + embedding_dim, 0.0f);
  }
  register_parameter("weight", weight);
}

Tensor Embedding::forward(const Tensor& ids) { return embedding(weight, ids, options); }

}  // namespace tapegrad::nn
