// What the pruning tools (prune_classifier, prune_lm) share, whatever the model: the order in
// which heads go when pruned one at a time, the choices of heads the random rows average over,
// the pruned heads of a config.json, and the table of pruned models (rows, JSON, SVG, text).
// A Head is one attention head of a model: its layer (block), its id in that layer, and its
// importance by some measure (low: the first to go).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "nn/head_importance.hpp"
#include "nn/module.hpp"

namespace CLI {
class App;  // CLI11's, declared only: its header is heavy, and spam_model.hpp includes this one
}  // namespace CLI

namespace tapegrad::text {

// The options both pruning tools take, and the flags that set them.
struct PruningOptions {
  uint64_t seed = 0;  // of the random choices of heads
  int random_draws = 10;
  bool normalize_importance_by_layer = true;
  int threads = 0;  // 0: the default (set_num_threads)
  bool json = false;
  std::string out_dir = "";                // where to write a pruned run; empty: nowhere
  int out_percent = 50;                    // of the heads, pruned in that run
  std::string out_criterion = "ablation";  // the measure that run is pruned by
};

void add_pruning_flags(CLI::App& app, PruningOptions& options);

// Layer -> the heads pruned from it, ids of the unpruned layer (Hugging Face's pruned_heads).
using PrunedHeads = std::map<int64_t, std::vector<int64_t>>;

// {"0": [1, 3]}: JSON object keys are strings.
nlohmann::json pruned_heads_json(const PrunedHeads& pruned);
// An Error naming `source` unless `json` is an object of layer numbers with lists of head
// numbers. Ranges are the model's to check.
PrunedHeads pruned_heads_from_json(const nlohmann::json& json, std::string_view source);

struct Head {
  int64_t layer, head;
  double importance;
};

nlohmann::json to_json(const std::vector<Head>& heads);

// Every head of nn::head_importance's answer, layer l its l-th module, in (layer, head) order.
std::vector<Head> heads_of(const std::vector<nn::HeadImportance>& importance);
// Every head of the attention modules `layers` (layer l is layers[l]), in (layer, head) order,
// with the rise of loss() when that head alone is switched off (its gate ξ_h = 0: the outputs
// of the model without it): what losing it costs, measured.
std::vector<Head> ablation_importance(const std::vector<nn::MultiHeadAttention*>& layers,
                                      const std::function<double()>& loss);

// The order in which `count` heads go when pruned one at a time, each time the least important
// of those left (measured again on the pruned model, as Hugging Face's bertology script prunes:
// after a head goes, the others' importance changes), never the last head of a layer.
// importance() gives every head of the model as pruned so far, ids among the heads left;
// prune(layer, head) prunes one of them. The order has the ids of the unpruned model, each head
// with its importance when it went; pruning n heads takes its first n.
std::vector<Head> greedy_order(int64_t layers, int64_t heads_per_layer, int64_t count,
                               const std::function<std::vector<Head>()>& importance,
                               const std::function<void(int64_t layer, int64_t head)>& prune);

// Every way to prune `count` of `heads` that leaves each layer a head, each as an order that
// heads_to_prune takes whole; none when there are more than `most` (then draws stand for them).
std::vector<std::vector<Head>> every_choice(const std::vector<Head>& heads, int64_t count,
                                            int64_t heads_per_layer, std::size_t most);

// `draws` random orders of `heads`: each the order of uniform draws from a generator seeded with
// `seed`, drawn over `heads` as given (in (layer, head) order, a seed takes the same heads
// whatever their importance).
std::vector<std::vector<Head>> random_orders(const std::vector<Head>& heads, int64_t draws,
                                             uint64_t seed);

// The first `count` heads of `order` that can go while every layer keeps one, by layer.
PrunedHeads heads_to_prune(const std::vector<Head>& order, int64_t count, int64_t heads_per_layer);

// One pruned (or quantized) model measured on the test split.
struct PruningRow {
  std::string model;  // "float32", "importance", "ablation", "random", "int8"
  double pruned_percent = 0;
  int64_t heads_kept = 0;
  double score = 0;                     // the table's figure: test F1, test bits per byte
  double score_min = 0, score_max = 0;  // over the random choices (else score)
  int64_t choices = 1;                  // of heads this row is the mean of: 1 but for "random"
  bool every_choice = false;            // "random" only: those are all there are
  double test_loss = 0;      // mean cross-entropy (nats): what importance measures on dev
  int64_t parameters = 0;    // weights, int8 ones included
  int64_t weight_bytes = 0;  // int8 weights 1 byte, their float32 scales 4
  double test_ms = 0;        // one pass over the test split, the fastest of three
};

// The parameters and weight bytes of `model` into `row`.
void count_weights(const nn::Module& model, PruningRow& row);
// The fastest of three calls of `pass`, in ms.
double fastest_of_three_ms(const std::function<void()>& pass);
// One row for several: the means of the score, loss and time, and the range of the score.
PruningRow mean_of(const std::vector<PruningRow>& draws);

// The rows of the table: the model as it is ("float32"), then 25, 50 and 75% of its heads pruned by each measure, in the orders by_importance and
// by_ablation, and at random: the mean over every choice where there are at most random_draws of
// them, else over random_draws random orders of `heads` from `seed`. measure(name, percent,
// pruned) loads the model, prunes the heads `pruned` and measures it.
std::vector<PruningRow> pruning_rows(
    const std::vector<Head>& heads, int64_t heads_per_layer, const std::vector<Head>& by_importance,
    const std::vector<Head>& by_ablation, int64_t random_draws, uint64_t seed,
    const std::function<PruningRow(const std::string& model, double percent,
                                   const PrunedHeads& pruned)>& measure);

// What a pruning tool found, with the name of its score ("test F1") and the score's JSON key
// ("test_f1"): pruning.json (without the tool's own keys), pruning.svg and the text report.
struct PruningTable {
  std::string score_name, score_key;
  std::vector<Head> heads = {};  // every head by its importance on dev, least first
  std::vector<Head> pruned_by_importance = {}, pruned_by_ablation = {};  // the greedy orders
  std::vector<PruningRow> rows = {};

  nlohmann::json json() const;
  std::string svg() const;  // the score against the % of heads pruned, a curve per measure
  void print() const;       // the orders, the table, the range of each random row
};

// An Error unless `pruned` is empty: the tools prune a run's whole model, not a pruned one.
void check_not_pruned(const PrunedHeads& pruned, const std::filesystem::path& run);

// How many heads the greedy orders must take: 75% of `total_heads` for the table, more if the
// --out run prunes more.
int64_t heads_to_order(const PruningOptions& options, int64_t total_heads);

// The heads of the --out run: --out-percent of all `total_heads`, in the order of --out-criterion.
PrunedHeads out_run_heads(const PruningOptions& options, const PruningTable& table,
                          int64_t total_heads, int64_t heads_per_layer);

// Writes <run>/pruning.svg and <run>/pruning.json (the table's JSON with the keys of `extra`);
// prints that JSON on one line with --json, else the report and then `footer` and the files.
void write_and_print(const PruningTable& table, const PruningOptions& options,
                     const std::filesystem::path& run, const nlohmann::json& extra,
                     const std::string& footer);

}  // namespace tapegrad::text
