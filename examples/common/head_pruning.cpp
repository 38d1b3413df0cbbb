#include "examples/common/head_pruning.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>

#include "autograd/autograd.hpp"
#include "autograd/io/atomic_file.hpp"
#include "examples/common/cli_checks.hpp"
#include "examples/common/plots.hpp"

namespace tapegrad::text {

void add_pruning_flags(CLI::App& app, PruningOptions& options) {
  app.add_option("--seed", options.seed, "seed of the random choices of heads");
  app.add_option("--random-draws", options.random_draws,
                 "random choices of heads at each percentage; the random row is their mean "
                 "(or the mean of every choice, where there are no more)")
      ->check(in_range(1, 1000));
  app.add_flag("--dont-normalize-importance-by-layer{false}", options.normalize_importance_by_layer,
               "compare the gradient importance of heads in different layers as it is, not "
               "divided by its layer's L2 norm");
  app.add_option("--threads", options.threads, "threads the kernels use (set_num_threads)")
      ->check(in_range(1, 256));
  app.add_flag("--json", options.json, "print the results as one JSON object");
  app.add_option("--out", options.out_dir, "also write a pruned model as a run directory here");
  app.add_option("--out-percent", options.out_percent, "% of the heads pruned in the --out run")
      ->check(in_range(0, 99));
  app.add_option("--out-criterion", options.out_criterion,
                 "the measure the --out run is pruned by: "
                 "ablation (the dev loss without each head) or importance (head-gate gradients)")
      ->check(CLI::IsMember({"ablation", "importance"}));
}

nlohmann::json pruned_heads_json(const PrunedHeads& pruned) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [layer, heads] : pruned) json[std::to_string(layer)] = heads;
  return json;
}

PrunedHeads pruned_heads_from_json(const nlohmann::json& json, std::string_view source) {
  if (!json.is_object())
    fail("{}: 'pruned_heads' must be an object {{\"layer\": [heads]}}", source);
  PrunedHeads pruned;
  for (const auto& [layer, heads] : json.items()) {
    const bool is_layer =
        !layer.empty() && layer.size() < 10 && std::all_of(layer.begin(), layer.end(), ::isdigit);
    if (!is_layer || !heads.is_array() ||
        !std::all_of(heads.begin(), heads.end(),
                     [](const nlohmann::json& head) { return head.is_number_integer(); }))
      fail("{}: 'pruned_heads' entry \"{}\" is not a layer number with a list of head numbers",
           source, layer);
    pruned[std::stoll(layer)] = heads.get<std::vector<int64_t>>();
  }
  return pruned;
}

nlohmann::json to_json(const std::vector<Head>& heads) {
  nlohmann::json list = nlohmann::json::array();
  for (const Head& head : heads)
    list.push_back({{"layer", head.layer}, {"head", head.head}, {"importance", head.importance}});
  return list;
}

std::vector<Head> heads_of(const std::vector<nn::HeadImportance>& importance) {
  std::vector<Head> heads;
  for (std::size_t layer = 0; layer < importance.size(); ++layer) {
    const std::vector<double> values = importance[layer].importance.to_vector();
    for (std::size_t h = 0; h < values.size(); ++h)
      heads.push_back({static_cast<int64_t>(layer), static_cast<int64_t>(h), values[h]});
  }
  return heads;
}

std::vector<Head> ablation_importance(const std::vector<nn::MultiHeadAttention*>& layers,
                                      const std::function<double()>& loss) {
  const double intact = loss();
  std::vector<Head> heads;
  for (std::size_t layer = 0; layer < layers.size(); ++layer) {
    nn::MultiHeadAttention& attention = *layers[layer];
    for (int64_t h = 0; h < attention.num_heads; ++h) {
      std::vector<double> gate(static_cast<std::size_t>(attention.num_heads), 1.0);
      gate[static_cast<std::size_t>(h)] = 0;
      attention.head_gate =
          from_vector(gate, {attention.num_heads}, {.dtype = attention.out_proj.weight.dtype()});
      heads.push_back({static_cast<int64_t>(layer), h, loss() - intact});
    }
    attention.head_gate = Tensor();
  }
  return heads;
}

std::vector<Head> greedy_order(int64_t layers, int64_t heads_per_layer, int64_t count,
                               const std::function<std::vector<Head>()>& importance,
                               const std::function<void(int64_t layer, int64_t head)>& prune) {
  std::vector<std::vector<int64_t>> original_ids(static_cast<std::size_t>(layers));
  for (std::vector<int64_t>& ids : original_ids)
    for (int64_t h = 0; h < heads_per_layer; ++h) ids.push_back(h);
  std::vector<Head> order;
  for (int64_t step = 0; step < count; ++step) {
    std::vector<Head> heads = importance();
    std::stable_sort(heads.begin(), heads.end(),
                     [](const Head& a, const Head& b) { return a.importance < b.importance; });
    const auto least = std::ranges::find_if(heads, [&](const Head& head) {
      return original_ids[static_cast<std::size_t>(head.layer)].size() > 1;
    });
    if (least == heads.end()) break;  // every layer is down to one head
    std::vector<int64_t>& ids = original_ids[static_cast<std::size_t>(least->layer)];
    order.push_back({least->layer, ids[static_cast<std::size_t>(least->head)], least->importance});
    prune(least->layer, least->head);
    ids.erase(ids.begin() + least->head);
  }
  return order;
}

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

std::vector<std::vector<Head>> random_orders(const std::vector<Head>& heads, int64_t draws,
                                             uint64_t seed) {
  std::vector<std::vector<Head>> orders(static_cast<std::size_t>(draws));
  Generator generator(seed);
  for (std::vector<Head>& order : orders) {
    const Tensor uniforms =
        uniform({static_cast<int64_t>(heads.size())}, 0, 1, {.dtype = kFloat64}, generator);
    for (const double i : sort(uniforms).indices.to_vector())
      order.push_back(heads[static_cast<std::size_t>(i)]);
  }
  return orders;
}

PrunedHeads heads_to_prune(const std::vector<Head>& order, int64_t count, int64_t heads_per_layer) {
  PrunedHeads pruned;
  int64_t taken = 0;
  for (const Head& head : order) {
    if (taken == count) break;
    std::vector<int64_t>& layer = pruned[head.layer];
    if (static_cast<int64_t>(layer.size()) + 1 == heads_per_layer) continue;
    layer.push_back(head.head);
    ++taken;
  }
  std::erase_if(pruned, [](const auto& layer) { return layer.second.empty(); });
  return pruned;
}

void count_weights(const nn::Module& model, PruningRow& row) {
  for (const auto& [name, tensor] : model.state_dict()) {
    if (name.ends_with("_scale")) {
      row.weight_bytes += tensor.numel() * 4;
      continue;
    }
    row.parameters += tensor.numel();
    row.weight_bytes += tensor.numel() * static_cast<int64_t>(element_size(tensor.dtype()));
  }
}

double fastest_of_three_ms(const std::function<void()>& pass) {
  double fastest = 1e300;
  for (int repeat = 0; repeat < 3; ++repeat) {
    const auto start = std::chrono::steady_clock::now();
    pass();
    fastest = std::min(
        fastest, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  return fastest;
}

PruningRow mean_of(const std::vector<PruningRow>& draws) {
  PruningRow mean = draws.front();
  mean.choices = static_cast<int64_t>(draws.size());
  mean.score = mean.test_loss = mean.test_ms = 0;
  for (const PruningRow& row : draws) {
    mean.score += row.score / static_cast<double>(draws.size());
    mean.test_loss += row.test_loss / static_cast<double>(draws.size());
    mean.test_ms += row.test_ms / static_cast<double>(draws.size());
    mean.score_min = std::min(mean.score_min, row.score);
    mean.score_max = std::max(mean.score_max, row.score);
  }
  return mean;
}

std::vector<PruningRow> pruning_rows(
    const std::vector<Head>& heads, int64_t heads_per_layer, const std::vector<Head>& by_importance,
    const std::vector<Head>& by_ablation, int64_t random_draws, uint64_t seed,
    const std::function<PruningRow(const std::string& model, double percent,
                                   const PrunedHeads& pruned)>& measure) {
  const auto total = static_cast<int64_t>(heads.size());
  const std::vector<std::vector<Head>> random = random_orders(heads, random_draws, seed);
  std::vector<PruningRow> rows = {measure("float32", 0, {})};
  for (const int percent : {25, 50, 75}) {
    const int64_t count = total * percent / 100;
    rows.push_back(
        measure("importance", percent, heads_to_prune(by_importance, count, heads_per_layer)));
    rows.push_back(
        measure("ablation", percent, heads_to_prune(by_ablation, count, heads_per_layer)));
    const std::vector<std::vector<Head>> choices =
        every_choice(heads, count, heads_per_layer, static_cast<std::size_t>(random_draws));
    std::vector<PruningRow> draws;
    for (const std::vector<Head>& order : choices.empty() ? random : choices)
      draws.push_back(measure("random", percent, heads_to_prune(order, count, heads_per_layer)));
    rows.push_back(mean_of(draws));
    rows.back().every_choice = !choices.empty();
  }
  return rows;
}

nlohmann::json PruningTable::json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const PruningRow& row : rows)
    list.push_back({{"model", row.model},
                    {"pruned_percent", row.pruned_percent},
                    {"heads_kept", row.heads_kept},
                    {score_key, row.score},
                    {score_key + "_min", row.score_min},
                    {score_key + "_max", row.score_max},
                    {"choices", row.choices},
                    {"every_choice", row.every_choice},
                    {"test_loss", row.test_loss},
                    {"parameters", row.parameters},
                    {"weight_bytes", row.weight_bytes},
                    {"test_ms", row.test_ms}});
  return {{"heads", to_json(heads)},
          {"pruned_by_importance", to_json(pruned_by_importance)},
          {"pruned_by_ablation", to_json(pruned_by_ablation)},
          {"rows", list}};
}

std::string PruningTable::svg() const {
  std::vector<report::Curve> curves;
  for (const std::string name : {"importance", "ablation", "random"}) {
    report::Curve curve{.name = "pruned by " + name, .values = {}, .x = {}, .panel = score_name};
    for (const PruningRow& row : rows)
      if (row.model == name || row.model == "float32") {
        curve.x.push_back(row.pruned_percent);
        curve.values.push_back(row.score);
      }
    curves.push_back(std::move(curve));
  }
  return report::svg_line_chart(
      curves, {.title = score_name + " against heads pruned", .x_label = "% of heads pruned"});
}

void PruningTable::print() const {
  fmt::print("heads by importance on dev (layer.head: importance, least first): ");
  for (const Head& head : heads)
    fmt::print("{}.{}: {:.3f}  ", head.layer, head.head, head.importance);
  for (const auto& [name, order] :
       {std::pair{"importance", &pruned_by_importance}, {"ablation", &pruned_by_ablation}}) {
    fmt::print("\npruned one at a time by {}:", name);
    for (const Head& head : *order) fmt::print(" {}.{}", head.layer, head.head);
  }
  fmt::print("\n\n");
  const auto width = static_cast<int>(std::max<std::size_t>(7, score_name.size()));
  fmt::print("{:<10} | {:>8} | {:>10} | {:>{}} | {:>9} | {:>10} | {:>10} | {:>12}\n", "pruned by",
             "pruned %", "heads kept", score_name, width, "test loss", "parameters", "weights KB",
             "test pass ms");
  fmt::print("{:-<10}-+-{:->8}-+-{:->10}-+-{:->{}}-+-{:->9}-+-{:->10}-+-{:->10}-+-{:->12}\n", "",
             "", "", "", width, "", "", "", "");
  for (const PruningRow& row : rows)
    fmt::print(
        "{:<10} | {:>8.0f} | {:>10} | {:>{}.4f} | {:>9.4f} | {:>10} | {:>10.1f} | {:>12.1f}\n",
        row.model, row.pruned_percent, row.heads_kept, row.score, width, row.test_loss,
        row.parameters, static_cast<double>(row.weight_bytes) / 1024, row.test_ms);
  fmt::print("\nrandom: the mean {} of", score_name);
  for (const PruningRow& row : rows)
    if (row.model == "random")
      fmt::print(" {} {} choices, from {:.4f} to {:.4f} ({:.0f}%);",
                 row.every_choice ? "all" : "random", row.choices, row.score_min, row.score_max,
                 row.pruned_percent);
  fmt::print("\n");
}

void check_not_pruned(const PrunedHeads& pruned, const std::filesystem::path& run) {
  if (!pruned.empty())
    fail(
        "--run {}: its model has heads pruned already (pruned_heads in config.json); prune the run "
        "it was pruned from",
        run.string());
}

int64_t heads_to_order(const PruningOptions& options, int64_t total_heads) {
  return total_heads * (options.out_dir.empty() ? 75 : std::max(75, options.out_percent)) / 100;
}

PrunedHeads out_run_heads(const PruningOptions& options, const PruningTable& table,
                          int64_t total_heads, int64_t heads_per_layer) {
  return heads_to_prune(
      options.out_criterion == "ablation" ? table.pruned_by_ablation : table.pruned_by_importance,
      total_heads * options.out_percent / 100, heads_per_layer);
}

void write_and_print(const PruningTable& table, const PruningOptions& options,
                     const std::filesystem::path& run, const nlohmann::json& extra,
                     const std::string& footer) {
  nlohmann::json json = table.json();
  json.update(extra);
  write_file_atomically(run / "pruning.svg", table.svg());
  write_file_atomically(run / "pruning.json", json.dump(2));
  if (options.json) {
    fmt::print("{}\n", json.dump());
    return;
  }
  table.print();
  fmt::print("{}; wrote {} and {}\n", footer, (run / "pruning.svg").string(),
             (run / "pruning.json").string());
}

}  // namespace tapegrad::text
