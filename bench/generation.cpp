// Decoding with the language model of examples/train_lm (bench/language_model_shape.hpp, random
// weights: the work does not depend on them):
// 1. tokens/s at a context of --context tokens: one token through the KV cache (the cache holds
//    context - 1 tokens and is cropped back after each) against the same token by recomputing
//    the whole context's forward, as a model without a cache must;
// 2. a long generation (--tokens, greedy) with a sliding window of --window tokens and without:
//    the resident memory and the time per token, every --every tokens. With the window the cache
//    is a ring of W rows and both stay flat; without it the cache is preallocated to the whole
//    length and each token attends to every earlier one.
//
//   build/release/bench/generation [--context 512] [--window 256] [--tokens 10000]
//                                  [--threads 2] [--json FILE]
#include <fmt/format.h>
#include <unistd.h>
#include <tapegrad/tapegrad.hpp>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/language_model_shape.hpp"

namespace {

using namespace tapegrad;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Resident memory of this process, from /proc/self/statm.
double resident_mb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

// The benchmarked model's options; seeds the default generator, so its weights are fixed.
nn::DecoderLMOptions model_options(int64_t max_len, int64_t window) {
  const bench::LanguageModelShape& s = bench::kLanguageModel;
  manual_seed(0);
  return {.vocab_size = s.vocab,
          .max_len = max_len,
          .d_model = s.d_model,
          .nhead = s.heads,
          .num_layers = s.layers,
          .dim_feedforward = s.ffn,
          .positions = nn::PositionEncoding::Sinusoidal,
          .window = window};
}

// The median over `repeats` of the seconds per call of `step`, after one call to warm up.
template <class Step>
double median_seconds(int repeats, Step step) {
  step();
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    const Clock::time_point start = Clock::now();
    step();
    times.push_back(seconds_since(start));
  }
  std::nth_element(times.begin(), times.begin() + repeats / 2, times.end());
  return times[static_cast<std::size_t>(repeats / 2)];
}

struct CacheSpeed {
  double cached_tokens_per_second, recompute_tokens_per_second;
};

CacheSpeed cache_speed(int64_t context) {
  nn::DecoderLM model(model_options(context, 0));
  model.eval();
  const Tensor ids = randint(0, bench::kLanguageModel.vocab, {1, context});
  const NoGradGuard no_grad;
  std::vector<nn::KVCache> cache = model.make_cache(1, context);
  model(narrow(ids, 1, 0, context - 1).contiguous(), cache);
  const Tensor last = narrow(ids, 1, context - 1, 1).contiguous();
  const double cached = median_seconds(41, [&] {
    const Tensor logits = model(last, cache);
    for (nn::KVCache& layer : cache) layer.crop(context - 1);
  });
  const double recompute = median_seconds(9, [&] { const Tensor logits = model(ids); });
  return {1 / cached, 1 / recompute};
}

struct GenerationSample {
  int64_t tokens;
  double resident_mb, ms_per_token;
};

// Greedy generation of `tokens` tokens after a one-token prompt; a sample every `every` tokens.
std::vector<GenerationSample> long_generation(int64_t tokens, int64_t window, int64_t every) {
  nn::DecoderLM model(model_options(tokens + 1, window));
  model.eval();
  std::vector<GenerationSample> samples;
  int64_t generated = 0;
  Clock::time_point start = Clock::now();
  const std::vector<int64_t> prompt{'\n'};
  nn::generate(model, prompt, {.max_new_tokens = tokens}, [&](int64_t) {
    if (++generated % every == 0) {
      samples.push_back({generated, resident_mb(), 1e3 * seconds_since(start) / every});
      start = Clock::now();
    }
    return true;
  });
  return samples;
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"Decoding speed with and without the KV cache; memory of a long generation"};
  int64_t context = 512, window = 256, tokens = 10000, every = 1000;
  int threads = 2;
  std::string json_path;
  app.add_option("--context", context, "Tokens in context for the speed comparison")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 16));
  app.add_option("--window", window, "Sliding window of the long generation")
      ->check(CLI::PositiveNumber);
  app.add_option("--tokens", tokens, "Tokens of the long generation")->check(CLI::PositiveNumber);
  app.add_option("--every", every, "Tokens between two samples of memory and time")
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "Threads")->check(CLI::PositiveNumber);
  app.add_option("--json", json_path, "Also write the figures to this JSON file");
  CLI11_PARSE(app, argc, argv);
  set_num_threads(threads);
  const bench::LanguageModelShape& s = bench::kLanguageModel;
  fmt::print("model: d_model {}, {} heads, {} layers, ffn {}, vocab {}; {} threads\n", s.d_model,
             s.heads, s.layers, s.ffn, s.vocab, threads);

  const CacheSpeed speed = cache_speed(context);
  fmt::print("\none token at context {}:\n", context);
  fmt::print("  with the KV cache   {:9.1f} tokens/s\n", speed.cached_tokens_per_second);
  fmt::print("  recomputing         {:9.1f} tokens/s\n", speed.recompute_tokens_per_second);
  fmt::print("  cache / recompute   {:9.1f}x\n",
             speed.cached_tokens_per_second / speed.recompute_tokens_per_second);

  nlohmann::json json{{"context", context},
                      {"threads", threads},
                      {"cached_tokens_per_second", speed.cached_tokens_per_second},
                      {"recompute_tokens_per_second", speed.recompute_tokens_per_second}};
  fmt::print("\n{} tokens generated greedily after a one-token prompt:\n", tokens);
  fmt::print("  {:>8}  {:>17}  {:>17}  {:>16}  {:>16}\n", "tokens",
             fmt::format("RSS MB, W = {}", window), "RSS MB, no window",
             fmt::format("ms/tok, W = {}", window), "ms/tok, no window");
  const std::vector<GenerationSample> windowed = long_generation(tokens, window, every);
  const std::vector<GenerationSample> whole = long_generation(tokens, 0, every);
  for (std::size_t i = 0; i < std::min(windowed.size(), whole.size()); ++i) {
    fmt::print("  {:>8}  {:>17.1f}  {:>17.1f}  {:>16.2f}  {:>16.2f}\n", windowed[i].tokens,
               windowed[i].resident_mb, whole[i].resident_mb, windowed[i].ms_per_token,
               whole[i].ms_per_token);
    json["generation"].push_back({{"tokens", windowed[i].tokens},
                                  {"window", window},
                                  {"resident_mb_window", windowed[i].resident_mb},
                                  {"resident_mb_no_window", whole[i].resident_mb},
                                  {"ms_per_token_window", windowed[i].ms_per_token},
                                  {"ms_per_token_no_window", whole[i].ms_per_token}});
  }
  if (!json_path.empty()) std::ofstream(json_path) << json.dump(2) << '\n';
  return 0;
} catch (const std::exception& error) {
  fmt::print(stderr, "generation: {}\n", error.what());
  return 1;
}
