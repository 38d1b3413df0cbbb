// What the pruning tools share (examples/common/head_pruning.hpp): the greedy order with the ids
// of the unpruned model, the plan that leaves every layer a head, every choice of heads, the
// random orders, the ablation of each head, and the pruned heads of a config.json.
#include <doctest/doctest.h>

#include "examples/common/head_pruning.hpp"
#include "nn/nn.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;
using text::Head;

namespace {

std::vector<std::pair<int64_t, int64_t>> ids(const std::vector<Head>& heads) {
  std::vector<std::pair<int64_t, int64_t>> list;
  for (const Head& head : heads) list.emplace_back(head.layer, head.head);
  return list;
}

}  // namespace

TEST_CASE("head pruning: the greedy order measures again after each head and names original ids") {
  // 2 layers of 3 heads. Importance of an original head: a fixed value, except that once head 0.0
  // is gone, head 1.2 matters more than any other (its measure changes after a pruning).
  std::vector<std::vector<int64_t>> left = {{0, 1, 2}, {0, 1, 2}};  // original ids still there
  const std::map<std::pair<int64_t, int64_t>, double> value = {
      {{0, 0}, 0.1}, {{0, 1}, 0.5}, {{0, 2}, 0.6}, {{1, 0}, 0.4}, {{1, 1}, 0.3}, {{1, 2}, 0.2}};
  const auto importance = [&] {
    std::vector<Head> heads;
    for (int64_t layer = 0; layer < 2; ++layer)
      for (std::size_t h = 0; h < left[layer].size(); ++h) {
        const int64_t original = left[layer][h];
        const bool raised = layer == 1 && original == 2 && left[0].size() < 3;
        heads.push_back(
            {layer, static_cast<int64_t>(h), raised ? 9.0 : value.at({layer, original})});
      }
    return heads;
  };
  const auto prune = [&](int64_t layer, int64_t head) {
    left[layer].erase(left[layer].begin() + head);  // ids among the heads left, as prune_heads
  };
  const std::vector<Head> order = text::greedy_order(2, 3, 5, importance, prune);
  // 0.0 (0.1); then 1.2 is raised, so 1.1 (0.3), 1.0 (0.4); layer 1 keeps its last head 1.2;
  // 0.1 (0.5); layer 0 keeps 0.2, and nothing more can go.
  CHECK(ids(order) == std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {1, 1}, {1, 0}, {0, 1}});
  CHECK(order[1].importance == 0.3);

  // Pruning 3 of them by that order: the first three; a layer never loses its last head.
  CHECK(text::heads_to_prune(order, 3, 3) == text::PrunedHeads{{0, {0}}, {1, {1, 0}}});
  const std::vector<Head> one_layer_first = {{1, 0, 0}, {1, 1, 0}, {1, 2, 0}, {0, 0, 0}};
  CHECK(text::heads_to_prune(one_layer_first, 3, 3) == text::PrunedHeads{{0, {0}}, {1, {0, 1}}});
}

TEST_CASE("head pruning: every choice of heads that leaves each layer one, or none past a bound") {
  std::vector<Head> heads;
  for (int64_t layer = 0; layer < 2; ++layer)
    for (int64_t h = 0; h < 2; ++h) heads.push_back({layer, h, 0});
  // 2 of 2 x 2 heads with one kept per layer: one head from each layer, 2 x 2 ways.
  const std::vector<std::vector<Head>> choices = text::every_choice(heads, 2, 2, 10);
  REQUIRE(choices.size() == 4);
  for (const std::vector<Head>& choice : choices) CHECK(choice[0].layer != choice[1].layer);
  CHECK(text::every_choice(heads, 2, 2, 3).empty());  // more than 3: draws stand for them
  std::vector<Head> four(4, Head{0, 0, 0});
  for (int64_t h = 0; h < 4; ++h) four[static_cast<std::size_t>(h)].head = h;
  CHECK(text::every_choice(four, 2, 4, 10).size() == 6);  // 4 choose 2

  // Random orders: each a permutation, the same for the same seed, another for another.
  const auto orders = text::random_orders(four, 3, 5);
  REQUIRE(orders.size() == 3);
  for (const std::vector<Head>& order : orders) {
    std::vector<int64_t> seen;
    for (const Head& head : order) seen.push_back(head.head);
    std::ranges::sort(seen);
    CHECK(seen == std::vector<int64_t>{0, 1, 2, 3});
  }
  CHECK(ids(text::random_orders(four, 3, 5)[2]) == ids(orders[2]));
  bool differ = false;
  for (std::size_t i = 0; i < 3; ++i)
    differ = differ || ids(text::random_orders(four, 3, 6)[i]) != ids(orders[i]);
  CHECK(differ);
}

TEST_CASE("head pruning: the ablation of a head is the rise of the loss without it") {
  manual_seed(4);
  nn::MultiHeadAttention attention(4, 2);
  attention.to(kFloat64);  // the gates take the module's dtype
  const Tensor x = testing::input({1, 3, 4}, 1).detach();
  const Tensor weights = testing::input({1, 3, 4}, 2).detach();
  const auto loss_with = [&](const Tensor& mask) {
    return sum(attention(x, x, x, {.need_weights = false, .head_mask = mask}).output * weights)
        .item();
  };
  const std::vector<Head> heads = text::ablation_importance({&attention}, [&] {
    return loss_with({});  // the tool's loss reads the gate ablation_importance sets
  });
  REQUIRE(heads.size() == 2);
  const double intact = loss_with(ones({2}, {.dtype = kFloat64}));
  CHECK(heads[0].importance ==
        doctest::Approx(loss_with(tensor({0.0, 1.0}, {.dtype = kFloat64})) - intact));
  CHECK(heads[1].importance ==
        doctest::Approx(loss_with(tensor({1.0, 0.0}, {.dtype = kFloat64})) - intact));
  CHECK(heads[0].importance != doctest::Approx(heads[1].importance));
  CHECK_FALSE(attention.head_gate.defined());  // the gate is off again
}

TEST_CASE("head pruning: pruned heads in config.json, and the errors for what is not") {
  const text::PrunedHeads pruned = {{0, {1, 3}}, {2, {0}}};
  const nlohmann::json json = text::pruned_heads_json(pruned);
  CHECK(json == nlohmann::json::parse(R"({"0": [1, 3], "2": [0]})"));
  CHECK(text::pruned_heads_from_json(json, "config.json") == pruned);
  CHECK_THROWS_WITH_AS(text::pruned_heads_from_json(nlohmann::json::array(), "config.json"),
                       doctest::Contains("config.json: 'pruned_heads' must be an object"), Error);
  CHECK_THROWS_WITH_AS(
      text::pruned_heads_from_json(nlohmann::json::parse(R"({"0": ["a"]})"), "config.json"),
      doctest::Contains("entry \"0\" is not a layer number with a list of head numbers"), Error);
}
