#include "nn/sampling.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/error.hpp"

namespace tapegrad::nn {

void check_generation_options(const GenerationOptions& options) {
  if (options.max_new_tokens < 0)
    fail("generate: max_new_tokens {} must not be negative", options.max_new_tokens);
  if (!(options.temperature >= 0) || std::isinf(options.temperature))
    fail("generate: temperature {} must be finite and >= 0 (0 is greedy)", options.temperature);
  if (options.top_k < 0)
    fail("generate: top_k {} must be >= 1 to keep the k best tokens, or 0 to keep all",
         options.top_k);
  if (!(options.top_p > 0 && options.top_p <= 1))
    fail("generate: top_p {} must be in (0, 1] (1 keeps every token)", options.top_p);
  if (!(options.repetition_penalty > 0) || std::isinf(options.repetition_penalty))
    fail("generate: repetition_penalty {} must be finite and > 0 (1 is none)",
         options.repetition_penalty);
  for (const std::vector<int64_t>& sequence : options.stop_sequences)
    if (sequence.empty()) fail("generate: stop_sequences holds an empty sequence");
  for (const std::string& text : options.stop_strings)
    if (text.empty()) fail("generate: stop_strings holds an empty string");
  if (!options.stop_strings.empty() && !options.decode)
    fail("generate: stop_strings need decode, the function from a token id to its text");
}

TokenSampler::TokenSampler(const GenerationOptions& options) : options_(options) {
  check_generation_options(options_);
}

int64_t TokenSampler::largest() const {
  return std::max_element(scores_.begin(), scores_.end()) - scores_.begin();
}

int64_t TokenSampler::next(const Tensor& logits, std::span<const int64_t> history,
                           Generator& generator) {
  if (logits.dim() != 1 || logits.size(0) == 0)
    fail("TokenSampler: logits of shape {} are not one row [V]", logits.shape());
  const int64_t V = logits.size(0);
  scores_.resize(static_cast<std::size_t>(V));
  dispatch_floating(logits.dtype(), "TokenSampler", [&]<class T>() {
    const T* row = logits.data<T>();
    for (int64_t i = 0; i < V; ++i) scores_[i] = static_cast<double>(row[i * logits.strides()[0]]);
  });

  if (options_.repetition_penalty != 1) {
    penalized_.assign(static_cast<std::size_t>(V), false);
    for (const int64_t token : history) {
      if (token < 0 || token >= V)
        fail("TokenSampler: token {} of the sequence is not in the vocabulary [0, {})", token, V);
      if (penalized_[token]) continue;
      penalized_[token] = true;
      double& score = scores_[token];
      score = score > 0 ? score / options_.repetition_penalty : score * options_.repetition_penalty;
    }
  }
  const int64_t best = largest();
  if (!std::isfinite(scores_[best]))
    fail("TokenSampler: the largest logit is {}; the model's output is not usable", scores_[best]);
  if (!options_.do_sample || options_.temperature == 0) return best;

  // The kept tokens, best first (lowest id first among equal scores).
  order_.resize(static_cast<std::size_t>(V));
  std::iota(order_.begin(), order_.end(), int64_t{0});
  int64_t kept = options_.top_k > 0 ? std::min(options_.top_k, V) : V;
  std::partial_sort(order_.begin(), order_.begin() + kept, order_.end(), [&](int64_t a, int64_t b) {
    return scores_[a] > scores_[b] || (scores_[a] == scores_[b] && a < b);
  });
  // Unnormalised probabilities exp((s - s_max) / temperature), best first.
  weights_.resize(static_cast<std::size_t>(kept));
  double total = 0;
  for (int64_t i = 0; i < kept; ++i) {
    weights_[i] = std::exp((scores_[order_[i]] - scores_[best]) / options_.temperature);
    total += weights_[i];
  }
  if (options_.top_p < 1) {  // the shortest prefix whose mass reaches top_p
    const double target = options_.top_p * total;
    double mass = 0;
    int64_t n = 0;
    while (n < kept && mass < target) mass += weights_[n++];
    kept = n, total = mass;
  }
  double u = generator.uniform() * total;
  for (int64_t i = 0; i < kept; ++i) {
    u -= weights_[i];
    if (u < 0) return order_[i];
  }
  return order_[kept - 1];  // u fell on the total itself, through rounding
}

}  // namespace tapegrad::nn
