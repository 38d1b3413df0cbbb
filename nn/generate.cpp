#include "nn/generate.hpp"

#include <algorithm>
#include <string>

#include "autograd/factories.hpp"
#include "autograd/ops/indexing.hpp"
#include "autograd/tape.hpp"

namespace tapegrad::nn {
namespace {

// Whether the generated tokens (and their decoded text) now end a stop sequence or stop string;
// `piece` is the text of the last token.
bool completes_stop(const GenerationOptions& options, std::span<const int64_t> generated,
                    const std::string& text, std::size_t piece) {
  for (const std::vector<int64_t>& sequence : options.stop_sequences)
    if (generated.size() >= sequence.size() &&
        std::equal(sequence.begin(), sequence.end(), generated.end() - sequence.size()))
      return true;
  for (const std::string& stop : options.stop_strings) {
    // Only an occurrence that the last piece completes: one that ends inside it.
    const std::size_t from =
        text.size() >= piece + stop.size() ? text.size() - piece - stop.size() + 1 : 0;
    if (text.find(stop, from) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

std::vector<int64_t> generate(DecoderLM& model, std::span<const int64_t> prompt,
                              const GenerationOptions& options, const TokenCallback& on_token) {
  TokenSampler sampler(options);
  if (model.is_training())
    fail(
        "generate: the model is in training mode (dropout would perturb every token); call "
        "model.eval() first");
  const int64_t prompt_length = static_cast<int64_t>(prompt.size());
  const int64_t max_len = model.options.max_len;
  if (prompt_length == 0) fail("generate: the prompt is empty; give at least one token");
  if (prompt_length > max_len)
    fail("generate: the prompt of {} tokens is longer than the model's max_len {}; shorten it",
         prompt_length, max_len);
  const NoGradGuard no_grad;
  Generator& generator = options.generator ? *options.generator : default_generator();
  // The sequence so far; the last generated token is never fed, so the positions allow this many.
  const int64_t new_tokens = std::min(options.max_new_tokens, max_len - prompt_length + 1);
  std::vector<int64_t> sequence(prompt.begin(), prompt.end());
  sequence.reserve(static_cast<std::size_t>(prompt_length + new_tokens));
  std::vector<KVCache> cache = model.make_cache(1, std::min(max_len, prompt_length + new_tokens));
  std::string text;

  Tensor logits = model(from_vector(sequence, {1, prompt_length}), cache);  // [1, P, V]
  const Tensor next_id = zeros({1, 1}, {.dtype = kInt64});                  // fed back each step
  for (int64_t step = 0; step < new_tokens; ++step) {
    const Tensor last = select(select(logits, 0, 0), 0, logits.size(1) - 1);  // [V]
    const int64_t token = sampler.next(last, sequence, generator);
    sequence.push_back(token);
    std::size_t piece = 0;
    if (options.decode && !options.stop_strings.empty()) {
      const std::string decoded = options.decode(token);
      text += decoded;
      piece = decoded.size();
    }
    const std::span<const int64_t> generated(sequence.begin() + prompt_length, sequence.end());
    if (on_token && !on_token(token)) break;
    if (completes_stop(options, generated, text, piece) || step + 1 == new_tokens) break;
    next_id.data<int64_t>()[0] = token;
    logits = model(next_id, cache);  // [1, 1, V]
  }
  return {sequence.begin() + prompt_length, sequence.end()};
}

}  // namespace tapegrad::nn
