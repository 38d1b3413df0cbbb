// Makes a trained classifier (a run of train_classifier) smaller and faster, and says what it
// costs: its attention heads pruned by importance, 0, 25, 50 and 75% of them, one at a time,
// each time the least important of those left, by two measures of importance on the dev split:
//   importance  Michel, Levy & Neubig 2019: I_h = Σ_x |∂L(x)/∂ξ_h| over the dev mails x,
//               normalised per layer unless --dont-normalize-importance-by-layer
//               (nn/head_importance.hpp): the first-order estimate of what losing a head costs
//   ablation    ΔL_h = L(ξ_h = 0) − L: what losing it costs, measured (one dev pass a head)
// against the same numbers of heads chosen at random (what pruning without a measure gives on
// average, one choice may be lucky: the mean over every choice where there are at most
// --random-draws of them, else the mean of that many random choices); then the whole model in int8
// (nn::quantize_dynamic). No retraining. Each row: heads kept, test F1 (whole mails, the run's
// calibrated threshold) and test loss, parameters, bytes of weights, and the time of one pass
// over the test split. Writes <run>/pruning.svg (test F1 against heads pruned) and
// <run>/pruning.json; with --out, the model pruned (--out-percent of its heads, by
// --out-criterion) as a run directory of its own, which predict_classifier reads (its
// config.json lists the pruned heads). The flags both pruning tools take: head_pruning.hpp.
//
//   build/release/examples/prune_classifier --run runs/classifier [--json] [--out DIR]
#include <CLI/CLI.hpp>
#include <tapegrad/tapegrad.hpp>

#include <algorithm>
#include <functional>
#include <span>

#include "autograd/io/atomic_file.hpp"
#include "examples/common/batching.hpp"
#include "examples/common/cli_checks.hpp"
#include "examples/common/head_pruning.hpp"
#include "examples/common/mail.hpp"
#include "examples/common/metrics.hpp"
#include "examples/common/spam_corpus.hpp"
#include "examples/common/spam_evaluation.hpp"
#include "examples/common/tokenizer.hpp"

using namespace tapegrad;

namespace {

struct Flags {
  text::PruningOptions pruning;
  std::string run_dir = "runs/classifier";
  std::string data_dir = "data/spamassassin/package/data";
  int importance_batch = 1;  // mails a batch in the gradient importance
};

// The dev and test messages encoded as the run's model reads them (whole mails).
struct Splits {
  std::vector<text::ModelInput> views;
  std::vector<int> labels;
  std::vector<int64_t> dev, test;
};

Splits read_splits(const Flags& flags, const text::TrainedSpamModel& trained) {
  Splits splits;
  for (const text::Message& message : text::list_corpus(flags.data_dir)) {
    if (message.hard() || *message.split == text::Split::Train) continue;
    const text::Mail mail = text::read_mail(message.path);
    const auto index = static_cast<int64_t>(splits.views.size());
    (*message.split == text::Split::Dev ? splits.dev : splits.test).push_back(index);
    splits.views.push_back(
        text::encode_message(trained.vocabulary, trained.config, mail.subject, mail.body));
    splits.labels.push_back(message.label);
  }
  return splits;
}

// Every head of the model with its importance on the dev split, in batches of `batch_size`
// mails: with 1, the paper's E_x |∂L(x)/∂ξ_h| (and its reference script's default); larger
// batches take |·| of the batch's gradient, where the mails' signs cancel first.
std::vector<text::Head> importance_on_dev(text::TrainedSpamModel& trained, const Splits& splits,
                                          int64_t batch_size, nn::HeadImportanceOptions options) {
  const auto batches = static_cast<int64_t>((splits.dev.size() + batch_size - 1) / batch_size);
  text::SpamClassifier& model = *trained.model;
  const std::vector<nn::HeadImportance> per_layer = nn::head_importance(
      model, batches,
      [&](int64_t b) {
        const std::size_t first = static_cast<std::size_t>(b * batch_size);
        const std::span<const int64_t> chunk(
            splits.dev.data() + first,
            std::min<std::size_t>(batch_size, splits.dev.size() - first));
        const text::Batch batch = text::make_batch(splits.views, splits.labels, chunk);
        return cross_entropy(model.forward(batch.ids, batch.mask, batch.ngrams), batch.labels);
      },
      options);
  return text::heads_of(per_layer);
}

// Every head of the model with the rise of the dev loss when it alone is switched off.
std::vector<text::Head> ablation_on_dev(text::TrainedSpamModel& trained, const Splits& splits) {
  text::SpamClassifier& model = *trained.model;
  std::vector<nn::MultiHeadAttention*> layers;
  for (auto& layer : model.encoder.layers) layers.push_back(&layer.self_attn);
  return text::ablation_importance(
      layers, [&] { return text::evaluate(model, splits.views, splits.labels, splits.dev).loss; });
}

using Importance = std::function<std::vector<text::Head>(text::TrainedSpamModel&, const Splits&)>;

// The order of greedy pruning (text::greedy_order) of the run's model by `importance`.
std::vector<text::Head> greedy_order(const std::string& run_dir, const Splits& splits,
                                     int64_t count, const Importance& importance) {
  text::TrainedSpamModel pruned = text::load_trained_spam_model(run_dir);
  return text::greedy_order(
      pruned.config.layers, pruned.config.heads, count, [&] { return importance(pruned, splits); },
      [&](int64_t layer, int64_t head) {
        pruned.model->encoder.layers[layer].self_attn.prune_heads({head});
      });
}

// The row of `trained` as it is now (pruned or quantized): its test F1.
text::PruningRow measure(std::string model_name, double pruned_percent,
                         text::TrainedSpamModel&& trained, const Splits& splits) {
  text::PruningRow row{.model = std::move(model_name), .pruned_percent = pruned_percent};
  text::SpamClassifier& model = *trained.model;
  for (int64_t l = 0; l < trained.config.layers; ++l)
    row.heads_kept += model.encoder.layers[l].self_attn.num_heads;
  text::count_weights(model, row);
  text::Evaluation evaluation;
  row.test_ms = text::fastest_of_three_ms(
      [&] { evaluation = text::evaluate(model, splits.views, splits.labels, splits.test); });
  row.score = report::f1(text::calibrated_confusion(evaluation, trained.calibration));
  row.score_min = row.score_max = row.score;
  row.test_loss = evaluation.loss;
  return row;
}

// The pruned model as a run directory: its config (with pruned_heads), weights, and the
// original run's vocabulary and calibration.
void write_pruned_run(const Flags& flags, const text::TrainedSpamModel& pruned) {
  const std::filesystem::path from(flags.run_dir), to(flags.pruning.out_dir);
  std::filesystem::create_directories(to);
  write_file_atomically(to / "config.json", text::to_json(pruned.config).dump(2));
  pruned.model->save(to / "model.safetensors");
  for (const char* file : {"vocabulary.json", "calibration.json"})
    std::filesystem::copy_file(from / file, to / file,
                               std::filesystem::copy_options::overwrite_existing);
  fmt::print(stderr, "wrote {}: {}% of the heads pruned by {}\n", to.string(),
             flags.pruning.out_percent, flags.pruning.out_criterion);
}

void prune_and_report(const Flags& flags) {
  if (flags.pruning.threads > 0) set_num_threads(flags.pruning.threads);
  text::TrainedSpamModel trained = text::load_trained_spam_model(flags.run_dir);
  text::check_not_pruned(trained.config.pruned_heads, flags.run_dir);
  const Splits splits = read_splits(flags, trained);
  if (splits.dev.empty() || splits.test.empty())
    fail("no dev or test messages under {} (scripts/fetch_data.sh fetches the corpus)",
         flags.data_dir);
  const Importance gradient_importance = [&](text::TrainedSpamModel& model, const Splits& data) {
    return importance_on_dev(model, data, flags.importance_batch,
                             {.normalize_by_layer = flags.pruning.normalize_importance_by_layer});
  };
  text::PruningTable table{.score_name = "test F1", .score_key = "test_f1"};
  const std::vector<text::Head> heads =
      gradient_importance(trained, splits);  // (layer, head) order
  table.heads = heads;
  std::ranges::stable_sort(table.heads, {}, &text::Head::importance);
  const auto total_heads = static_cast<int64_t>(heads.size());
  const int64_t ordered = text::heads_to_order(flags.pruning, total_heads);
  table.pruned_by_importance = greedy_order(flags.run_dir, splits, ordered, gradient_importance);
  table.pruned_by_ablation = greedy_order(flags.run_dir, splits, ordered, ablation_on_dev);
  // The run, loaded again, with the heads `pruned` gone.
  const auto load_pruned = [&](const text::PrunedHeads& pruned) {
    text::TrainedSpamModel model = text::load_trained_spam_model(flags.run_dir);
    for (const auto& [layer, heads] : pruned)
      model.model->encoder.layers[layer].self_attn.prune_heads(heads);
    model.config.pruned_heads = pruned;
    return model;
  };
  table.rows = text::pruning_rows(
      heads, trained.config.heads, table.pruned_by_importance, table.pruned_by_ablation,
      flags.pruning.random_draws, flags.pruning.seed,
      [&](const std::string& model, double percent, const text::PrunedHeads& pruned) {
        return measure(model, percent, load_pruned(pruned), splits);
      });
  text::TrainedSpamModel int8 = text::load_trained_spam_model(flags.run_dir);
  nn::quantize_dynamic(*int8.model);
  if (const auto warning = nn::int8_speed_warning())
    fmt::print(stderr, "prune_classifier: {}\n", *warning);
  table.rows.push_back(measure("int8", 0, std::move(int8), splits));
  if (!flags.pruning.out_dir.empty())
    write_pruned_run(flags, load_pruned(text::out_run_heads(flags.pruning, table, total_heads,
                                                            trained.config.heads)));
  text::write_and_print(
      table, flags.pruning, flags.run_dir, {{"run", flags.run_dir}, {"threads", num_threads()}},
      fmt::format("{} test messages, {} threads", splits.test.size(), num_threads()));
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{
      "Prune the attention heads of a trained classifier by importance (and at random), and "
      "quantize it to int8: test F1, size and speed of each"};
  app.add_option("--run", flags.run_dir, "run directory of train_classifier");
  app.add_option("--data-dir", flags.data_dir,
                 "the corpus: <group>/<id>.txt folders (scripts/fetch_data.sh)");
  app.add_option("--importance-batch", flags.importance_batch,
                 "mails a batch in the gradient importance (1: E_x |dL(x)/dgate| over mails)")
      ->check(text::in_range(1, 1024));
  text::add_pruning_flags(app, flags.pruning);
  if (const std::optional<int> exit_code =
          text::parse_command_line(app, argc, argv, "prune_classifier"))
    return *exit_code;
  try {
    prune_and_report(flags);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "prune_classifier: {}\n", e.what());
    return 1;
  }
}
