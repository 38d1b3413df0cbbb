// Makes a trained language model (a run of train_lm) smaller and faster, and says what it costs,
// as prune_classifier does for the classifier: its attention heads pruned 0, 25, 50 and 75%, one
// at a time, each time the least important of those left, by two measures on a dev text:
//   importance  Michel, Levy & Neubig 2019: I_h = Σ_x |∂L(x)/∂ξ_h| over --dev-windows windows x
//               of the context length, normalised per layer unless
//               --dont-normalize-importance-by-layer (nn/head_importance.hpp)
//   ablation    ΔL_h = L(ξ_h = 0) − L over the same windows: what losing the head costs
// against the same numbers of heads chosen at random (the mean over every choice where there are
// at most --random-draws of them, else over that many random choices); then
// the whole model in int8 (nn::quantize_dynamic). No retraining. Dev is the first half of the
// validation text of the fortunes, test the second half; each row: heads kept, test bits per
// byte (as train_lm scores validation: every byte predicted once, with at least half a context
// before it) and test loss in nats, parameters, bytes of weights, and the time of one pass over
// the test half. Writes <run>/pruning.svg and <run>/pruning.json; with --out, the model pruned
// (--out-percent of its heads, by --out-criterion) as a run directory of its own, which
// generate reads (its config.json lists the pruned heads).
//
//   build/release/examples/prune_lm --run runs/lm [--json] [--out DIR]
#include <CLI/CLI.hpp>
#include <tapegrad/tapegrad.hpp>

#include <numbers>

#include "autograd/io/atomic_file.hpp"
#include "examples/common/cli_checks.hpp"
#include "examples/common/fortunes.hpp"
#include "examples/common/head_pruning.hpp"
#include "examples/common/lm_config.hpp"
#include "examples/common/lm_windows.hpp"

using namespace tapegrad;

namespace {

struct Flags {
  text::PruningOptions pruning;
  std::string run_dir = "runs/lm";
  std::string data_dir = "data/fortunes/usr/share/games/fortunes";
  int dev_windows = 64;  // windows of the dev text the importance and ablation measure
};

// The validation text of the fortunes in halves, and the dev windows' first bytes: evenly spread
// over the dev half, each of the model's context length.
struct Texts {
  std::string dev, test;
  std::vector<int64_t> dev_starts;
};

Texts read_texts(const Flags& flags, int64_t context) {
  const std::string validation =
      text::split_documents(text::fortune_documents(flags.data_dir)).validation;
  const std::size_t half = validation.size() / 2;
  Texts texts{.dev = validation.substr(0, half), .test = validation.substr(half), .dev_starts = {}};
  const auto last_start = static_cast<int64_t>(texts.dev.size()) - context - 1;
  if (last_start < flags.dev_windows || static_cast<int64_t>(texts.test.size()) < 2)
    fail(
        "--data-dir {}: a validation text of {} bytes is too short for {} dev windows of {} "
        "bytes (scripts/fetch_fortunes.sh fetches the corpus)",
        flags.data_dir, validation.size(), flags.dev_windows, context);
  for (int64_t w = 0; w < flags.dev_windows; ++w)
    texts.dev_starts.push_back(w * last_start / std::max(1, flags.dev_windows - 1));
  return texts;
}

std::vector<nn::MultiHeadAttention*> attention_layers(nn::DecoderLM& model) {
  std::vector<nn::MultiHeadAttention*> layers;
  for (nn::DecoderBlock& block : model.h) layers.push_back(&block.attn);
  return layers;
}

using Importance = std::function<std::vector<text::Head>(nn::DecoderLM&)>;

// The order of greedy pruning (text::greedy_order) of the run's model by `importance`.
std::vector<text::Head> greedy_order(const Flags& flags, int64_t count,
                                     const Importance& importance) {
  const std::unique_ptr<nn::DecoderLM> pruned = text::load_lm_run(flags.run_dir);
  return text::greedy_order(
      pruned->options.num_layers, pruned->options.nhead, count, [&] { return importance(*pruned); },
      [&](int64_t layer, int64_t head) { pruned->h[layer].attn.prune_heads({head}); });
}

// The row of `model` as it is now (pruned or quantized): its test bits per byte.
text::PruningRow measure(std::string model_name, double pruned_percent, nn::DecoderLM& model,
                         const Texts& texts) {
  text::PruningRow row{.model = std::move(model_name), .pruned_percent = pruned_percent};
  for (nn::DecoderBlock& block : model.h) row.heads_kept += block.attn.num_heads;
  text::count_weights(model, row);
  row.test_ms = text::fastest_of_three_ms(
      [&] { row.test_loss = text::mean_nats_per_byte(model, texts.test, 16); });
  row.score = row.score_min = row.score_max = row.test_loss / std::numbers::ln2;
  return row;
}

// The pruned model as a run directory: its config (with pruned_heads) and weights.
void write_pruned_run(const Flags& flags, const nn::DecoderLM& pruned) {
  const std::filesystem::path to(flags.pruning.out_dir);
  std::filesystem::create_directories(to);
  write_file_atomically(to / "config.json", text::to_json(pruned.options).dump(2));
  pruned.save(to / "model.safetensors");
  fmt::print(stderr, "wrote {}: {}% of the heads pruned by {}\n", to.string(),
             flags.pruning.out_percent, flags.pruning.out_criterion);
}

void prune_and_report(const Flags& flags) {
  if (flags.pruning.threads > 0) set_num_threads(flags.pruning.threads);
  const std::unique_ptr<nn::DecoderLM> trained = text::load_lm_run(flags.run_dir);
  text::check_not_pruned(trained->options.pruned_heads, flags.run_dir);
  const int64_t context = trained->options.max_len;
  const Texts texts = read_texts(flags, context);
  const Importance gradient_importance = [&](nn::DecoderLM& model) {
    return text::heads_of(
        nn::head_importance(model, flags.dev_windows,
                            [&](int64_t w) {
                              return text::windows_loss(model, texts.dev, {texts.dev_starts[w]},
                                                        context, Reduction::Mean);
                            },
                            {.normalize_by_layer = flags.pruning.normalize_importance_by_layer}));
  };
  const Importance ablation = [&](nn::DecoderLM& model) {
    return text::ablation_importance(attention_layers(model), [&] {
      const NoGradGuard no_grad;
      return text::windows_loss(model, texts.dev, texts.dev_starts, context, Reduction::Mean)
          .item();
    });
  };

  text::PruningTable table{.score_name = "test bits/byte", .score_key = "test_bits_per_byte"};
  const std::vector<text::Head> heads = gradient_importance(*trained);  // (layer, head) order
  table.heads = heads;
  std::ranges::stable_sort(table.heads, {}, &text::Head::importance);
  const auto total_heads = static_cast<int64_t>(heads.size());
  const int64_t ordered = text::heads_to_order(flags.pruning, total_heads);
  table.pruned_by_importance = greedy_order(flags, ordered, gradient_importance);
  table.pruned_by_ablation = greedy_order(flags, ordered, ablation);
  // The run, loaded again, with the heads `pruned` gone (and in its options, for config.json).
  const auto load_pruned = [&](const text::PrunedHeads& pruned) {
    std::unique_ptr<nn::DecoderLM> model = text::load_lm_run(flags.run_dir);
    for (const auto& [layer, heads] : pruned) model->h[layer].attn.prune_heads(heads);
    model->options.pruned_heads = pruned;
    return model;
  };
  table.rows = text::pruning_rows(
      heads, trained->options.nhead, table.pruned_by_importance, table.pruned_by_ablation,
      flags.pruning.random_draws, flags.pruning.seed,
      [&](const std::string& model, double percent, const text::PrunedHeads& pruned) {
        return measure(model, percent, *load_pruned(pruned), texts);
      });
  const std::unique_ptr<nn::DecoderLM> int8 = text::load_lm_run(flags.run_dir);
  nn::quantize_dynamic(*int8);
  if (const auto warning = nn::int8_speed_warning()) fmt::print(stderr, "prune_lm: {}\n", *warning);
  table.rows.push_back(measure("int8", 0, *int8, texts));
  if (!flags.pruning.out_dir.empty())
    write_pruned_run(flags, *load_pruned(text::out_run_heads(flags.pruning, table, total_heads,
                                                             trained->options.nhead)));
  text::write_and_print(table, flags.pruning, flags.run_dir,
                        {{"run", flags.run_dir},
                         {"threads", num_threads()},
                         {"dev_bytes", texts.dev.size()},
                         {"test_bytes", texts.test.size()}},
                        fmt::format("dev: {} windows of {} bytes; test: {} bytes; {} threads",
                                    flags.dev_windows, context, texts.test.size(), num_threads()));
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{
      "Prune the attention heads of a trained language model by importance (and at random), and "
      "quantize it to int8: test bits per byte, size and speed of each"};
  app.add_option("--run", flags.run_dir, "run directory of train_lm");
  app.add_option("--data-dir", flags.data_dir,
                 "the fortune files (scripts/fetch_fortunes.sh): their validation text is split "
                 "into dev and test halves");
  app.add_option("--dev-windows", flags.dev_windows,
                 "windows of the dev half, of the model's context length, that the importance "
                 "and the ablation measure")
      ->check(text::in_range(1, 100000));
  text::add_pruning_flags(app, flags.pruning);
  if (const std::optional<int> exit_code = text::parse_command_line(app, argc, argv, "prune_lm"))
    return *exit_code;
  try {
    prune_and_report(flags);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "prune_lm: {}\n", e.what());
    return 1;
  }
}
