// Exercise 5: a key/value cache for decoding (statement: exercises/README.md). Write
// KVCache::append and decode_step in exercise.cpp; test.cpp grades them.
#pragma once

#include <tapegrad/tapegrad.hpp>

namespace tapegrad::exercises {

// The keys and values of one attention head for the tokens decoded so far: row t is token t's.
class KVCache {
 public:
  // Appends one token's key and value, each [d], as the new last row of keys() and values().
  void append(const Tensor& key, const Tensor& value);

  int64_t length() const { return keys_.defined() ? keys_.size(0) : 0; }  // tokens cached
  const Tensor& keys() const { return keys_; }      // [length(), d]; undefined while empty
  const Tensor& values() const { return values_; }  // [length(), d]; undefined while empty

 private:
  Tensor keys_, values_;
};

// One step of decoding with single-head causal self-attention. The new token comes with its
// query, key and value, each [d]: append its key and value to `cache`, then let its query attend
// over every cached token, itself included (K and V are the cache's [T, d] keys and values):
//   weights = softmax(K q / √d)     [T]
//   output  = Vᵀ weights            [d]
// No mask: the new token is the last one, and causality lets it see every token up to itself.
Tensor decode_step(const Tensor& query, const Tensor& key, const Tensor& value, KVCache& cache);

}  // namespace tapegrad::exercises
