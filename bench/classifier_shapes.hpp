// The two classifier sizes the benchmarks train and run: A (small: one layer, 32 tokens) and
// B (four layers, 128 tokens), as in bench/README.md.
#pragma once

#include <cstdint>

namespace tapegrad::bench {

struct ClassifierShape {
  int64_t vocab, d_model, heads, layers, ffn, seq_len, batch;
};

inline constexpr ClassifierShape kClassifierA{
    .vocab = 5000, .d_model = 64, .heads = 4, .layers = 1, .ffn = 128, .seq_len = 32, .batch = 32};
inline constexpr ClassifierShape kClassifierB{.vocab = 10000,
                                              .d_model = 256,
                                              .heads = 8,
                                              .layers = 4,
                                              .ffn = 1024,
                                              .seq_len = 128,
                                              .batch = 32};

}  // namespace tapegrad::bench
