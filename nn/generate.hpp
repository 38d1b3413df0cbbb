// Autoregressive generation with a DecoderLM: the prompt goes through the model once (prefill,
// filling one KVCache per block), then each new token is chosen by TokenSampler
// (nn/sampling.hpp) from the last position's logits and fed back alone, attending to the cache.
// Nothing is recorded on the tape.
//
//   model.eval();
//   Generator generator(42);
//   generate(model, prompt, {.max_new_tokens = 200, .do_sample = true, .top_p = 0.9,
//                            .generator = &generator},
//            [](int64_t token) { std::putchar(static_cast<int>(token)); return true; });
//
// on_token sees each token as soon as it is chosen; returning false stops after it. Generation also
// stops after max_new_tokens tokens or a token that completes a stop sequence or stop string.
// The prompt and the new tokens share the model's max_len positions: a prompt longer than max_len
// is an error naming both, and generation stops when the positions run out.
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "nn/decoder.hpp"
#include "nn/sampling.hpp"

namespace tapegrad::nn {

using TokenCallback = std::function<bool(int64_t token)>;

// The new tokens (the prompt not included). The model must be in eval mode (dropout off).
std::vector<int64_t> generate(DecoderLM& model, std::span<const int64_t> prompt,
                              const GenerationOptions& options = {},
                              const TokenCallback& on_token = {});

}  // namespace tapegrad::nn
