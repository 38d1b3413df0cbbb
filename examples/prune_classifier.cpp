// Makes a trained classifier (a run of train_classifier) smaller and faster, and says what it
// costs: its attention heads pruned by importance, 0, 25, 50 and 75% of them, one at a time,
// each time the least important of those left, by two measures of importance on the dev split:
//   importance  Michel, Levy & Neubig 2019: I_h = Σ_x |∂L(x)/∂ξ_h| over the dev mails x,
//               normalised per layer (nn/head_importance.hpp): the first-order estimate of
//               what losing a head costs
//   ablation    ΔL_h = L(ξ_h = 0) − L: what losing it costs, measured (one dev pass a head)
// against the same numbers of heads chosen at random (what pruning without a measure gives on
// average, one choice may be lucky: the mean over every choice where there are at most
// --random-draws of them, else the mean of that many random choices); then the whole model in int8
// (nn::quantize_dynamic). No retraining. Each row: heads kept, test F1 (whole mails, the run's
// calibrated threshold) and test loss, parameters, bytes of weights, and the time of one pass
// over the test split. Writes <run>/pruning.svg (test F1 against heads pruned) and
// <run>/pruning.json; with
// --out, the model pruned by importance (--out-percent of its heads) as a run directory of its
// own, which predict_classifier reads (its config.json lists the pruned heads).
//
//   build/release/examples/prune_classifier --run runs/classifier [--json] [--out DIR]
#include <CLI/CLI.hpp>
#include <tapegrad/tapegrad.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <span>

#include "autograd/io/atomic_file.hpp"
#include "examples/common/batching.hpp"
#include "examples/common/cli_checks.hpp"
#include "examples/common/mail.hpp"
#include "examples/common/plots.hpp"
#include "examples/common/spam_corpus.hpp"
#include "examples/common/spam_evaluation.hpp"
#include "examples/common/tokenizer.hpp"

using namespace tapegrad;

namespace {

struct Flags {
  std::string run_dir = "runs/classifier";
  std::string data_dir = "data/spamassassin/package/data";
  uint64_t seed = 0;  // of the random choices of heads
  int random_draws = 10;
  int importance_batch = 1;  // mails a batch in the gradient importance
  int threads = 0;           // 0: the default (set_num_threads)
  bool json = false;
  std::string out_dir;                     // where to write a pruned run; empty: nowhere
  int out_percent = 50;                    // of the heads, pruned by importance, in that run
  std::string out_criterion = "ablation";  // the importance that run is pruned by
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

struct Head {
  int64_t layer, head;
  double importance;
};

// Every head of the model with its importance on the dev split, in batches of `batch_size`
// mails: with 1, the paper's E_x |∂L(x)/∂ξ_h| (and its reference script's default); larger
// batches take |·| of the batch's gradient, where the mails' signs cancel first.
std::vector<Head> importance_on_dev(text::TrainedSpamModel& trained, const Splits& splits,
                                    int64_t batch_size) {
  const auto batches = static_cast<int64_t>((splits.dev.size() + batch_size - 1) / batch_size);
  text::SpamClassifier& model = *trained.model;
  const std::vector<nn::HeadImportance> per_layer =
      nn::head_importance(model, batches, [&](int64_t b) {
        const std::size_t first = static_cast<std::size_t>(b * batch_size);
        const std::span<const int64_t> chunk(
            splits.dev.data() + first,
            std::min<std::size_t>(batch_size, splits.dev.size() - first));
        const text::Batch batch = text::make_batch(splits.views, splits.labels, chunk);
        return cross_entropy(model.forward(batch.ids, batch.mask, batch.ngrams), batch.labels);
      });
  std::vector<Head> heads;
  for (std::size_t layer = 0; layer < per_layer.size(); ++layer) {
    const std::vector<double> values = per_layer[layer].importance.to_vector();
    for (std::size_t h = 0; h < values.size(); ++h)
      heads.push_back({static_cast<int64_t>(layer), static_cast<int64_t>(h), values[h]});
  }
  return heads;
}

// Every head of the model with the rise of the dev loss when it alone is switched off (its gate
// ξ_h = 0: the outputs of the model without it).
std::vector<Head> ablation_on_dev(text::TrainedSpamModel& trained, const Splits& splits) {
  text::SpamClassifier& model = *trained.model;
  const double loss = text::evaluate(model, splits.views, splits.labels, splits.dev).loss;
  std::vector<Head> heads;
  for (int64_t layer = 0; layer < trained.config.layers; ++layer) {
    nn::MultiHeadAttention& attention = model.encoder.layers[layer].self_attn;
    for (int64_t h = 0; h < attention.num_heads; ++h) {
      attention.head_gate = ones({attention.num_heads});
      attention.head_gate.data<float>()[h] = 0;
      heads.push_back(
          {layer, h, text::evaluate(model, splits.views, splits.labels, splits.dev).loss - loss});
    }
    attention.head_gate = Tensor();
  }
  return heads;
}

using Importance = std::function<std::vector<Head>(text::TrainedSpamModel&, const Splits&)>;

// The order in which `count` heads go when pruned one at a time, each time the least important
// of those left by `importance` (measured again on the pruned model, as Hugging Face's bertology
// script prunes): after a head goes, the others' importance changes. Heads by their ids in the
// whole model, each with its importance when it went. Pruning n heads keeps the first n.
std::vector<Head> greedy_order(const std::string& run_dir, const Splits& splits, int64_t count,
                               const Importance& importance) {
  text::TrainedSpamModel pruned = text::load_trained_spam_model(run_dir);
  std::vector<std::vector<int64_t>> original_ids(static_cast<std::size_t>(pruned.config.layers));
  for (std::vector<int64_t>& ids : original_ids)
    for (int64_t h = 0; h < pruned.config.heads; ++h) ids.push_back(h);
  std::vector<Head> order;
  for (int64_t step = 0; step < count; ++step) {
    std::vector<Head> heads = importance(pruned, splits);
    std::stable_sort(heads.begin(), heads.end(),
                     [](const Head& a, const Head& b) { return a.importance < b.importance; });
    const auto least = std::ranges::find_if(heads, [&](const Head& head) {
      return original_ids[static_cast<std::size_t>(head.layer)].size() > 1;
    });
    if (least == heads.end()) break;  // every layer is down to one head
    std::vector<int64_t>& ids = original_ids[static_cast<std::size_t>(least->layer)];
    order.push_back({least->layer, ids[static_cast<std::size_t>(least->head)], least->importance});
    pruned.model->encoder.layers[least->layer].self_attn.prune_heads({least->head});
    ids.erase(ids.begin() + least->head);
  }
  return order;
}

// Every way to prune `count` of `heads` that leaves each layer a head, each as an order that
// heads_to_prune takes whole; none when there are more than `most` (then draws stand for them).
std::vector<std::vector<Head>> every_choice(const std::vector<Head>& heads, int64_t count,
                                            int64_t heads_per_layer, std::size_t most) {
  std::vector<std::vector<Head>> choices;
  std::vector<Head> chosen;
  std::map<int64_t, int64_t> pruned_in_layer;
  bool too_many = false;
  const std::function<void(std::size_t)> choose_from = [&](std::size_t next) {
    if (too_many) return;
    if (static_cast<int64_t>(chosen.size()) == count) {
      too_many = choices.size() == most;
      if (!too_many) choices.push_back(chosen);
      return;
    }
    for (std::size_t i = next; i < heads.size(); ++i) {
      int64_t& in_layer = pruned_in_layer[heads[i].layer];
      if (in_layer + 1 == heads_per_layer) continue;
      ++in_layer;
      chosen.push_back(heads[i]);
      choose_from(i + 1);
      chosen.pop_back();
      --in_layer;
    }
  };
  choose_from(0);
  if (too_many) choices.clear();
  return choices;
}

// The first `count` heads of `order` that can go while every layer keeps one, by layer.
std::map<int64_t, std::vector<int64_t>> heads_to_prune(const std::vector<Head>& order,
                                                       int64_t count, int64_t heads_per_layer) {
  std::map<int64_t, std::vector<int64_t>> pruned;
  int64_t taken = 0;
  for (const Head& head : order) {
    if (taken == count) break;
    std::vector<int64_t>& layer = pruned[head.layer];
    if (static_cast<int64_t>(layer.size()) + 1 == heads_per_layer) continue;
    layer.push_back(head.head);
    ++taken;
  }
  return pruned;
}

struct Row {
  std::string model;  // "float32", "importance", "ablation", "random", "int8"
  double pruned_percent = 0;
  int64_t heads_kept = 0;
  double test_f1 = 0;
  double test_f1_min = 0, test_f1_max = 0;  // over the random choices (else test_f1)
  int64_t choices = 1;                      // of heads this row is the mean of: 1 but for "random"
  bool every_choice = false;                // "random" only: those are all there are
  double test_loss = 0;    // mean cross-entropy: what head importance measures on dev
  int64_t parameters = 0;  // weights, int8 ones included
  int64_t weight_bytes = 0;
  double test_ms = 0;  // one pass over the test split, the fastest of three
};

nlohmann::json to_json(const std::vector<Head>& heads) {
  nlohmann::json list = nlohmann::json::array();
  for (const Head& head : heads)
    list.push_back({{"layer", head.layer}, {"head", head.head}, {"importance", head.importance}});
  return list;
}

nlohmann::json to_json(const Row& row) {
  return {{"model", row.model},
          {"pruned_percent", row.pruned_percent},
          {"heads_kept", row.heads_kept},
          {"test_f1", row.test_f1},
          {"test_f1_min", row.test_f1_min},
          {"test_f1_max", row.test_f1_max},
          {"choices", row.choices},
          {"every_choice", row.every_choice},
          {"test_loss", row.test_loss},
          {"parameters", row.parameters},
          {"weight_bytes", row.weight_bytes},
          {"test_ms", row.test_ms}};
}

// The row of `trained` as it is now (pruned or quantized).
Row measure(std::string model_name, double pruned_percent, text::TrainedSpamModel&& trained,
            const Splits& splits) {
  Row row{.model = std::move(model_name), .pruned_percent = pruned_percent};
  text::SpamClassifier& model = *trained.model;
  for (int64_t l = 0; l < trained.config.layers; ++l)
    row.heads_kept += model.encoder.layers[l].self_attn.num_heads;
  for (const auto& [name, tensor] : model.state_dict()) {
    if (name.ends_with("_scale")) {
      row.weight_bytes += tensor.numel() * 4;
      continue;
    }
    row.parameters += tensor.numel();
    row.weight_bytes += tensor.numel() * static_cast<int64_t>(element_size(tensor.dtype()));
  }
  text::Evaluation evaluation;
  row.test_ms = 1e300;
  for (int repeat = 0; repeat < 3; ++repeat) {
    const auto start = std::chrono::steady_clock::now();
    evaluation = text::evaluate(model, splits.views, splits.labels, splits.test);
    row.test_ms =
        std::min(row.test_ms,
                 std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  row.test_f1 = report::f1(text::calibrated_confusion(evaluation, trained.calibration));
  row.test_f1_min = row.test_f1_max = row.test_f1;
  row.test_loss = evaluation.loss;
  return row;
}

// One row for several: the means of test F1, loss and time, and the range of test F1.
Row mean_of(const std::vector<Row>& draws) {
  Row mean = draws.front();
  mean.choices = static_cast<int64_t>(draws.size());
  mean.test_f1 = mean.test_loss = mean.test_ms = 0;
  for (const Row& row : draws) {
    mean.test_f1 += row.test_f1 / static_cast<double>(draws.size());
    mean.test_loss += row.test_loss / static_cast<double>(draws.size());
    mean.test_ms += row.test_ms / static_cast<double>(draws.size());
    mean.test_f1_min = std::min(mean.test_f1_min, row.test_f1);
    mean.test_f1_max = std::max(mean.test_f1_max, row.test_f1);
  }
  return mean;
}

// The pruned model as a run directory: its config (with pruned_heads), weights, and the
// original run's vocabulary and calibration.
void write_pruned_run(const Flags& flags, const text::TrainedSpamModel& pruned) {
  const std::filesystem::path from(flags.run_dir), to(flags.out_dir);
  std::filesystem::create_directories(to);
  write_file_atomically(to / "config.json", text::to_json(pruned.config).dump(2));
  pruned.model->save(to / "model.safetensors");
  for (const char* file : {"vocabulary.json", "calibration.json"})
    std::filesystem::copy_file(from / file, to / file,
                               std::filesystem::copy_options::overwrite_existing);
  fmt::print(stderr, "wrote {}: {}% of the heads pruned by {}\n", to.string(), flags.out_percent,
             flags.out_criterion);
}

void prune_and_report(const Flags& flags) {
  if (flags.threads > 0) set_num_threads(flags.threads);
  text::TrainedSpamModel trained = text::load_trained_spam_model(flags.run_dir);
  const Splits splits = read_splits(flags, trained);
  if (splits.dev.empty() || splits.test.empty())
    fail("no dev or test messages under {} (scripts/fetch_data.sh fetches the corpus)",
         flags.data_dir);
  const Importance gradient_importance = [&](text::TrainedSpamModel& model, const Splits& data) {
    return importance_on_dev(model, data, flags.importance_batch);
  };
  const std::vector<Head> heads = gradient_importance(trained, splits);  // (layer, head) order
  std::vector<Head> by_importance = heads;
  std::stable_sort(by_importance.begin(), by_importance.end(),
                   [](const Head& a, const Head& b) { return a.importance < b.importance; });
  // Random orders of the heads: each the order of uniform draws from the seeded generator, drawn
  // over the heads in (layer, head) order, so that a seed takes the same heads whatever the
  // importance says.
  std::vector<std::vector<Head>> random_orders(static_cast<std::size_t>(flags.random_draws));
  {
    Generator generator(flags.seed);
    for (std::vector<Head>& order : random_orders) {
      const Tensor draws =
          uniform({static_cast<int64_t>(heads.size())}, 0, 1, {.dtype = kFloat64}, generator);
      for (const double i : sort(draws).indices.to_vector())
        order.push_back(heads[static_cast<std::size_t>(i)]);
    }
  }

  const int64_t total_heads = static_cast<int64_t>(heads.size());
  // The run, loaded again, with `percent` of its heads pruned in `order`.
  const auto pruned_in_order = [&](const std::vector<Head>& order, int64_t percent) {
    text::TrainedSpamModel pruned = text::load_trained_spam_model(flags.run_dir);
    const auto plan = heads_to_prune(order, total_heads * percent / 100, trained.config.heads);
    for (const auto& [layer, heads] : plan) {
      pruned.model->encoder.layers[layer].self_attn.prune_heads(heads);
      pruned.config.pruned_heads[layer] = heads;
    }
    return pruned;
  };
  // The greedy orders, as far as the table (75%) or --out needs.
  const int64_t most_percent = flags.out_dir.empty() ? 75 : std::max(75, flags.out_percent);
  const std::vector<Head> by_gradient =
      greedy_order(flags.run_dir, splits, total_heads * most_percent / 100, gradient_importance);
  const std::vector<Head> by_ablation =
      greedy_order(flags.run_dir, splits, total_heads * most_percent / 100, ablation_on_dev);
  std::vector<Row> rows;
  for (const int percent : {0, 25, 50, 75}) {
    rows.push_back(measure(percent == 0 ? "float32" : "importance", percent,
                           pruned_in_order(by_gradient, percent), splits));
    if (percent == 0) continue;
    rows.push_back(measure("ablation", percent, pruned_in_order(by_ablation, percent), splits));
    const std::vector<std::vector<Head>> choices =
        every_choice(heads, total_heads * percent / 100, trained.config.heads,
                     static_cast<std::size_t>(flags.random_draws));
    std::vector<Row> draws;
    for (const std::vector<Head>& order : choices.empty() ? random_orders : choices)
      draws.push_back(measure("random", percent, pruned_in_order(order, percent), splits));
    rows.push_back(mean_of(draws));
    rows.back().every_choice = !choices.empty();
  }
  text::TrainedSpamModel int8 = text::load_trained_spam_model(flags.run_dir);
  nn::quantize_dynamic(*int8.model);
  rows.push_back(measure("int8", 0, std::move(int8), splits));
  if (!flags.out_dir.empty())
    write_pruned_run(flags,
                     pruned_in_order(flags.out_criterion == "ablation" ? by_ablation : by_gradient,
                                     flags.out_percent));

  nlohmann::json json = {{"run", flags.run_dir},
                         {"threads", num_threads()},
                         {"heads", nlohmann::json::array()},
                         {"rows", nlohmann::json::array()}};
  json["heads"] = to_json(by_importance);
  json["pruned_by_importance"] = to_json(by_gradient);
  json["pruned_by_ablation"] = to_json(by_ablation);
  for (const Row& row : rows) json["rows"].push_back(to_json(row));

  std::vector<report::Curve> curves;
  for (const std::string name : {"importance", "ablation", "random"}) {
    report::Curve curve{.name = "pruned by " + name, .values = {}, .x = {}, .panel = "test F1"};
    for (const Row& row : rows)
      if (row.model == name || row.model == "float32") {
        curve.x.push_back(row.pruned_percent);
        curve.values.push_back(row.test_f1);
      }
    curves.push_back(std::move(curve));
  }
  const std::filesystem::path run(flags.run_dir);
  write_file_atomically(run / "pruning.svg",
                        report::svg_line_chart(curves, {.title = "test F1 against heads pruned",
                                                        .x_label = "% of heads pruned"}));
  write_file_atomically(run / "pruning.json", json.dump(2));
  if (flags.json) {
    fmt::print("{}\n", json.dump());
    return;
  }
  fmt::print("heads by importance on dev (layer.head: importance, least first): ");
  for (const Head& head : by_importance)
    fmt::print("{}.{}: {:.3f}  ", head.layer, head.head, head.importance);
  for (const auto& [name, order] :
       {std::pair{"importance", &by_gradient}, {"ablation", &by_ablation}}) {
    fmt::print("\npruned one at a time by {}:", name);
    for (const Head& head : *order) fmt::print(" {}.{}", head.layer, head.head);
  }
  fmt::print("\n\n{:<10} | {:>8} | {:>10} | {:>7} | {:>9} | {:>10} | {:>10} | {:>12}\n",
             "pruned by", "pruned %", "heads kept", "test F1", "test loss", "parameters",
             "weights KB", "test pass ms");
  fmt::print("{:-<10}-+-{:->8}-+-{:->10}-+-{:->7}-+-{:->9}-+-{:->10}-+-{:->10}-+-{:->12}\n", "", "",
             "", "", "", "", "", "");
  for (const Row& row : rows)
    fmt::print(
        "{:<10} | {:>8.0f} | {:>10} | {:>7.4f} | {:>9.4f} | {:>10} | {:>10.1f} | {:>12.1f}\n",
        row.model, row.pruned_percent, row.heads_kept, row.test_f1, row.test_loss, row.parameters,
        static_cast<double>(row.weight_bytes) / 1024, row.test_ms);
  fmt::print("\nrandom: the mean test F1 of");
  for (const Row& row : rows)
    if (row.model == "random")
      fmt::print(" {} {} choices, from {:.4f} to {:.4f} ({:.0f}%);",
                 row.every_choice ? "all" : "random", row.choices, row.test_f1_min, row.test_f1_max,
                 row.pruned_percent);
  fmt::print("\n{} test messages, {} threads; wrote {} and {}\n", splits.test.size(), num_threads(),
             (run / "pruning.svg").string(), (run / "pruning.json").string());
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
  app.add_option("--seed", flags.seed, "seed of the random choices of heads");
  app.add_option("--random-draws", flags.random_draws,
                 "random choices of heads at each percentage; the random row is their mean "
                 "(or the mean of every choice, where there are no more)")
      ->check(text::in_range(1, 1000));
  app.add_option("--importance-batch", flags.importance_batch,
                 "mails a batch in the gradient importance (1: E_x |dL(x)/dgate| over mails)")
      ->check(text::in_range(1, 1024));
  app.add_option("--threads", flags.threads, "threads the kernels use (set_num_threads)")
      ->check(text::in_range(1, 256));
  app.add_flag("--json", flags.json, "print the results as one JSON object");
  app.add_option("--out", flags.out_dir,
                 "also write the model pruned by importance as a run directory here");
  app.add_option("--out-percent", flags.out_percent, "% of the heads pruned in the --out run")
      ->check(text::in_range(0, 99));
  app.add_option("--out-criterion", flags.out_criterion,
                 "the importance the --out run is pruned by: "
                 "ablation (the dev loss without each head) or importance (head-gate gradients)")
      ->check(CLI::IsMember({"ablation", "importance"}));
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
