// Text from a language model trained by train_lm: the prompt goes through the model once
// (prefill), then each new byte is chosen by the sampling flags (Hugging Face's names and
// defaults: greedy unless --do-sample) and printed after the prompt as soon as it is chosen.
// Timings go to stderr, so stdout is the text alone (or, with --json, one JSON object).
//   generate --run runs/lm --do-sample --temperature 0.8 --top-p 0.95 "The "
// --attention FILE.svg draws the last layer's attention over the whole text (prompt and new
// bytes): one panel per head, queries down, keys across. --int8 runs the model's Linear layers and
// attention projections in int8 (nn::quantize_dynamic; the head tied to the embedding stays
// float32).
#include <CLI/CLI.hpp>
#include <tapegrad/tapegrad.hpp>

#include <chrono>
#include <cstdio>
#include <memory>

#include "autograd/io/atomic_file.hpp"
#include "examples/common/cli_checks.hpp"
#include "examples/common/lm_config.hpp"
#include "examples/common/plots.hpp"

using namespace tapegrad;

namespace {

struct Flags {
  std::string run = "runs/lm";
  std::string prompt;
  nn::GenerationOptions generation = {.max_new_tokens = 200};
  uint64_t seed = 0;
  int threads = 2;
  std::string attention;
  bool json = false;
  bool int8 = false;
};

// Each byte of the text as a token; a single byte is shown as itself in the heatmap.
std::vector<std::string> byte_labels(const std::vector<int64_t>& tokens) {
  std::vector<std::string> labels;
  for (const int64_t token : tokens) labels.emplace_back(1, static_cast<char>(token));
  return labels;
}

// The last layer's attention weights [heads, T, T] over `tokens`: blocks 0..L-2 run uncached on
// the whole text, then the last block's attention on ln_1 of what they give, causal (and within
// the model's window, if it has one), per head.
Tensor last_layer_attention(nn::DecoderLM& model, const std::vector<int64_t>& tokens) {
  NoGradGuard no_grad;
  const auto length = static_cast<int64_t>(tokens.size());
  const Tensor& positions = model.wpe ? model.wpe->weight : model.sinusoid->pe;
  Tensor hidden = model.wte(from_vector(tokens, {1, length})) + narrow(positions, 0, 0, length);
  const int64_t layers = model.h.size();
  for (int64_t i = 0; i + 1 < layers; ++i) hidden = model.h[i](hidden);
  nn::DecoderBlock& last = model.h[layers - 1];
  const Tensor normed = last.ln_1(hidden);
  return last
      .attn(normed, normed, normed,
            {.is_causal = true,
             .window = model.options.window,
             .need_weights = true,
             .average_attn_weights = false})
      .weights.squeeze(0);
}

double per_second(int64_t count, double seconds) {
  return seconds > 0 ? static_cast<double>(count) / seconds : 0.0;
}

void run_generation(Flags flags) {
  set_num_threads(flags.threads);
  const std::unique_ptr<nn::DecoderLM> loaded = text::load_lm_run(flags.run);
  nn::DecoderLM& model = *loaded;
  if (flags.int8) {
    nn::quantize_dynamic(model);
    if (const auto warning = nn::int8_speed_warning())
      fmt::print(stderr, "generate: {}\n", *warning);
  }
  std::vector<int64_t> prompt;
  for (const char byte : flags.prompt) prompt.push_back(static_cast<unsigned char>(byte));
  // With no prompt, the text opens as a fortune does after the one before it.
  if (prompt.empty()) prompt.push_back('\n');
  if (static_cast<int64_t>(prompt.size()) >= model.options.max_len)
    fail("the prompt has {} bytes; this model reads {} at most, so give fewer than that",
         prompt.size(), model.options.max_len);
  Generator generator(flags.seed);
  flags.generation.generator = &generator;
  flags.generation.decode = [](int64_t token) { return std::string(1, static_cast<char>(token)); };
  nn::check_generation_options(flags.generation);

  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  Clock::time_point first_token = started;
  std::string text;
  if (!flags.json) fmt::print("{}", flags.prompt);  // the text continues it
  const std::vector<int64_t> generated =
      nn::generate(model, prompt, flags.generation, [&](int64_t token) {
        if (text.empty()) first_token = Clock::now();
        text.push_back(static_cast<char>(token));
        if (!flags.json) {
          std::putchar(static_cast<int>(token));
          std::fflush(stdout);
        }
        return true;
      });
  const auto finished = Clock::now();
  // Prefill: the prompt's forward and the first token's choice; decoding: each later token.
  const double prefill_seconds = std::chrono::duration<double>(first_token - started).count();
  const double decode_seconds = std::chrono::duration<double>(finished - first_token).count();
  const auto decoded = static_cast<int64_t>(std::max<std::size_t>(1, generated.size()) - 1);
  const double prefill_rate = per_second(static_cast<int64_t>(prompt.size()), prefill_seconds);
  const double decode_rate = per_second(decoded, decode_seconds);

  if (!flags.attention.empty()) {
    std::vector<int64_t> whole = prompt;
    whole.insert(whole.end(), generated.begin(), generated.end());
    const std::vector<std::string> labels = byte_labels(whole);
    write_file_atomically(flags.attention,
                          report::svg_attention_heatmap(
                              labels, labels, last_layer_attention(model, whole),
                              fmt::format("last layer's attention over {} bytes", whole.size())));
  }
  if (flags.json) {
    const nlohmann::json result = {{"prompt", flags.prompt},
                                   {"text", text},
                                   {"prompt_tokens", prompt.size()},
                                   {"new_tokens", generated.size()},
                                   {"prefill_tokens_per_second", prefill_rate},
                                   {"decode_tokens_per_second", decode_rate},
                                   {"seed", flags.seed}};
    // Bytes that are not UTF-8 (a character cut by --max-new-tokens) become U+FFFD.
    fmt::print("{}\n", result.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    fmt::print("\n");
  }
  std::fflush(stdout);
  fmt::print(stderr, "prefill: {} tokens in {:.1f} ms ({:.0f} tokens/s); ", prompt.size(),
             prefill_seconds * 1e3, prefill_rate);
  fmt::print(stderr, "decoding: {} tokens in {:.1f} ms ({:.0f} tokens/s)\n", decoded,
             decode_seconds * 1e3, decode_rate);
  if (!flags.attention.empty()) fmt::print(stderr, "wrote {}\n", flags.attention);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  nn::GenerationOptions& generation = flags.generation;
  CLI::App app{"Generate text with a language model trained by train_lm"};
  app.add_option("prompt", flags.prompt, "the text to continue (default: a new fortune)");
  app.add_option("--run", flags.run, "the run directory of train_lm");
  app.add_option("--max-new-tokens", generation.max_new_tokens, "bytes to generate at most")
      ->check(text::in_range(1, 1000000));
  app.add_flag("--do-sample", generation.do_sample, "sample (default: greedy, the likeliest byte)");
  app.add_option("--temperature", generation.temperature,
                 "divides the logits before sampling (0: greedy)")
      ->check(text::non_negative());
  app.add_option("--top-k", generation.top_k, "sample among the k likeliest bytes only (0: all)")
      ->check(text::non_negative());
  app.add_option("--top-p", generation.top_p,
                 "sample among the likeliest bytes whose probabilities sum to p (1: all)")
      ->check(text::in_range(0, 1));
  app.add_option("--repetition-penalty", generation.repetition_penalty,
                 "divides the logits of bytes already in the text (1: none)")
      ->check(text::positive());
  app.add_option("--stop", generation.stop_strings,
                 "stop after text that ends with this string (repeat the flag for more)")
      ->allow_extra_args(false);
  app.add_option("--seed", flags.seed, "seed of the sampling");
  app.add_option("--threads", flags.threads, "threads the kernels use (set_num_threads)")
      ->check(text::in_range(1, 256));
  app.add_option("--attention", flags.attention,
                 "write the last layer's attention over the whole text to this SVG");
  app.add_flag("--int8", flags.int8, "run the Linear layers and attention projections in int8");
  app.add_flag("--json", flags.json,
               "print one JSON object (prompt, text, token counts, tokens/s) instead of the text");
  if (const std::optional<int> exit_code = text::parse_command_line(app, argc, argv, "generate"))
    return *exit_code;
  try {
    run_generation(flags);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "generate: {}\n", e.what());
    return 1;
  }
}
