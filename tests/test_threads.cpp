// Two models trained at once in two std::threads end with the same weights, bit for bit, as the
// same two trained one after the other: the tape, grad mode and the default generator are per
// thread, so neither run sees the other's graph or random numbers.
#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "autograd/autograd.hpp"
#include "examples/common/spam_model.hpp"
#include "optim/optim.hpp"

using namespace tapegrad;

namespace {

// A few AdamW steps of a small spam classifier (dropout on) on random token ids, from the
// calling thread's default generator seeded with `seed`; the final parameters.
std::vector<std::vector<double>> train_small_classifier(uint64_t seed) {
  manual_seed(seed);
  text::SpamClassifier model({.vocab_size = 50,
                              .d_model = 8,
                              .heads = 2,
                              .layers = 1,
                              .ffn = 16,
                              .max_len = 12,
                              .body_words = 12,
                              .dropout = 0.2,
                              .ngram_buckets = 0});
  optim::AdamW optimizer(model.parameters(), {.lr = 1e-2});
  for (int step = 0; step < 8; ++step) {
    const Tensor ids = randint(2, 50, {4, 12});
    const Tensor mask = ones({4, 12}, {.dtype = kBool});
    const Tensor labels = randint(0, 2, {4});
    const Tensor loss = cross_entropy(model.forward(ids, mask, {}), labels);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  }
  std::vector<std::vector<double>> weights;
  for (const Tensor& p : model.parameters()) weights.push_back(p.to_vector());
  return weights;
}

}  // namespace

TEST_CASE("threads: two models trained at once equal the same two trained one after the other") {
  const auto first_alone = train_small_classifier(1);
  const auto second_alone = train_small_classifier(2);
  REQUIRE(first_alone != second_alone);

  std::vector<std::vector<double>> first_together, second_together;
  std::thread first([&] { first_together = train_small_classifier(1); });
  std::thread second([&] { second_together = train_small_classifier(2); });
  first.join();
  second.join();
  CHECK(first_together == first_alone);
  CHECK(second_together == second_alone);
}

TEST_CASE(
    "threads: a new thread's default generator starts at seed 0, whatever other threads did") {
  manual_seed(123);
  const double here = randn({1}).item();
  double there = 0, fresh = 0;
  std::thread([&] { there = randn({1}).item(); }).join();
  manual_seed(0);
  fresh = randn({1}).item();
  CHECK(there == fresh);
  CHECK(there != here);
}
