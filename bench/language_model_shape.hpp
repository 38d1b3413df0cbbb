// The language model the decoding benchmarks run (bench/generation, and compare's decode case):
// the default model of examples/train_lm (bytes in, GPT-2's layout, nn/decoder.hpp), with
// positions for 512 tokens where the example trains with 128.
#pragma once

#include <cstdint>

namespace tapegrad::bench {

struct LanguageModelShape {
  int64_t vocab, d_model, heads, layers, ffn, max_len;
};

inline constexpr LanguageModelShape kLanguageModel{
    .vocab = 256, .d_model = 128, .heads = 4, .layers = 4, .ffn = 512, .max_len = 512};

}  // namespace tapegrad::bench
