// The language model the decoding benchmarks run (bench_decode, and compare's decode case): the
// default model of examples/train_lm, bytes in, GPT-2's layout (nn/decoder.hpp).
#pragma once

#include <cstdint>

namespace tapegrad::bench {

struct LanguageModelShape {
  int64_t vocab, d_model, heads, layers, ffn, max_len;
};

inline constexpr LanguageModelShape kLanguageModel{
    .vocab = 256, .d_model = 256, .heads = 8, .layers = 4, .ffn = 1024, .max_len = 512};

}  // namespace tapegrad::bench
