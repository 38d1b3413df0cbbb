// Embedding lookup, as torch's embedding: row indices[...] of the table, for int64 indices of any
// shape. The gradient of a row is the sum of the output gradients of every position that picked
// it (repeated indices accumulate); the padding_idx row, if given, gets none.
//   embedding(weight [num, dim], indices [B, T]) -> [B, T, dim]
#pragma once

#include <optional>

#include "autograd/tensor.hpp"

namespace tapegrad {

struct EmbeddingOptions {
  std::optional<int64_t> padding_idx = std::nullopt;  // negative counts from the end, as PyTorch
};

Tensor embedding(const Tensor& weight, const Tensor& indices, EmbeddingOptions options = {});

}  // namespace tapegrad
