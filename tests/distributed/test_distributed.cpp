// The distributed tests: run under mpirun with 2 ranks (tests/distributed/CMakeLists.txt), every
// rank running every case in the same order. Each rank checks what it sees; ctest fails if
// either does.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "distributed/data_parallel.hpp"
#include "distributed/process_group.hpp"
#include "tests/distributed/tiny_classifier.hpp"
#include "tests/testing.hpp"

namespace tapegrad::testing {
namespace {

distributed::ProcessGroup* the_group = nullptr;

distributed::ProcessGroup& group() { return *the_group; }

// True if every rank holds bit for bit rank 0's values of every parameter.
bool same_on_every_rank(const nn::Module& model) {
  int64_t differing = 0;
  for (const auto& [name, parameter] : model.named_parameters()) {
    Tensor root = parameter.detach().clone();
    group().broadcast(root);
    const auto bytes =
        static_cast<std::size_t>(parameter.numel()) * element_size(parameter.dtype());
    if (std::memcmp(root.data<float>(), parameter.data<float>(), bytes) != 0) ++differing;
  }
  Tensor total = from_vector(std::vector<int64_t>{differing}, {1});
  group().all_reduce(total);
  return total.data<int64_t>()[0] == 0;
}

// The mean over the ranks of a scalar.
double average(double value) {
  Tensor t = from_vector(std::vector<double>{value}, {1}, {.dtype = kFloat64});
  group().all_reduce(t, distributed::ReduceOp::Average);
  return t.data<double>()[0];
}

TEST_CASE("distributed: broadcast and all_reduce of tensors") {
  REQUIRE(group().size() == 2);
  const double r = group().rank();
  Tensor x = from_vector(std::vector<double>{r, 10 + r, 100 * r}, {3});
  group().all_reduce(x);
  check_values(x, {1, 21, 100}, 0);
  Tensor mean = from_vector(std::vector<double>{r, 3}, {2}, {.dtype = kFloat64});
  group().all_reduce(mean, distributed::ReduceOp::Average);
  check_values(mean, {0.5, 3}, 0);
  Tensor counts = from_vector(std::vector<int64_t>{1, group().rank()}, {2});
  group().all_reduce(counts);
  check_values(counts, {2, 1}, 0);
  Tensor from_one = full({2, 2}, 7 + r);
  group().broadcast(from_one, 1);
  check_values(from_one, {8, 8, 8, 8}, 0);
  CHECK(group().broadcast_string(group().is_root() ? "rank 0 says" : "") == "rank 0 says");
  group().barrier();
}

TEST_CASE("distributed: tensors a collective call cannot take are refused with the reason") {
  Tensor transposed = zeros({2, 3}).transpose(0, 1);
  CHECK_THROWS_WITH(group().all_reduce(transposed),
                    doctest::Contains("not contiguous (call .contiguous() first)"));
  Tensor mask = zeros({2}, {.dtype = kBool});
  CHECK_THROWS_WITH(group().all_reduce(mask), doctest::Contains("bool tensors cannot be sent"));
  Tensor counts = zeros({2}, {.dtype = kInt64});
  CHECK_THROWS_WITH(group().all_reduce(counts, distributed::ReduceOp::Average),
                    doctest::Contains("Average of an int64 tensor"));
}

TEST_CASE("distributed: a root that is no rank and a bucket size of zero are refused") {
  Tensor x = zeros({2});
  CHECK_THROWS_WITH(group().broadcast(x, 2),
                    doctest::Contains("root 2 is not a rank of 2 processes"));
  nn::Linear layer(2, 1);
  CHECK_THROWS_WITH(distributed::DistributedDataParallel(layer, group(), {.bucket_cap_mb = 0}),
                    doctest::Contains("bucket_cap_mb is 0; it must be positive"));
}

// 2 ranks on 16 examples each against 1 process on the 32: the same losses, step after step.
TEST_CASE("distributed: 2 ranks x batch 16 follow 1 rank x batch 32 for 20 steps") {
  const TokenData data = tiny_data(20 * 32, 10, 5);
  manual_seed(100 + static_cast<uint64_t>(group().rank()));  // ranks start apart: DDP aligns them
  TinyClassifier replica;
  distributed::DistributedDataParallel ddp(replica, group());
  CHECK(same_on_every_rank(replica));
  TinyClassifier alone;
  alone.load_state_dict(replica.state_dict());  // the one process starts where the ranks do
  optim::AdamW alone_optimizer(alone.parameters(), {.lr = 1e-2});
  optim::AdamW replica_optimizer(replica.parameters(), {.lr = 1e-2});
  double first = 0, last = 0;
  for (int64_t step = 0; step < 20; ++step) {
    const TokenData batch = rows(data, step * 32, step * 32 + 32);
    alone_optimizer.zero_grad();
    const Tensor alone_loss = cross_entropy(alone(batch.ids), batch.labels);
    alone_loss.backward();
    alone_optimizer.step();

    const TokenData mine = rows(batch, 16 * group().rank(), 16 * group().rank() + 16);
    replica_optimizer.zero_grad();
    const Tensor loss = cross_entropy(replica(mine.ids), mine.labels);
    loss.backward();
    ddp.step(replica_optimizer);
    const double both = average(loss.item());
    INFO("step ", step, ": one process ", alone_loss.item(), ", two ranks ", both);
    CHECK(both == doctest::Approx(alone_loss.item()).epsilon(1e-5));
    CHECK(same_on_every_rank(replica));
    (step == 0 ? first : last) = both;
  }
  CHECK(last < first * 0.9);  // it learns: the comparison is not between two idle runs
  CHECK(ddp.last_synchronize().buckets == 1);
}

// The parameters after 5 steps with 1 KB buckets (one or more per parameter) and 25 MB (one).
TEST_CASE("distributed: the results do not depend on the bucket size") {
  const TokenData data = tiny_data(5 * 16, 8, 9);
  std::vector<std::vector<double>> after;
  for (const double cap_mb : {1.0 / 1024, 25.0}) {
    manual_seed(3);
    TinyClassifier model;
    distributed::DistributedDataParallel ddp(model, group(), {.bucket_cap_mb = cap_mb});
    optim::AdamW optimizer(model.parameters(), {.lr = 1e-2});
    for (int64_t step = 0; step < 5; ++step) {
      const TokenData mine =
          rows(data, step * 16 + 8 * group().rank(), step * 16 + 8 * group().rank() + 8);
      optimizer.zero_grad();
      cross_entropy(model(mine.ids), mine.labels).backward();
      ddp.step(optimizer);
    }
    MESSAGE(cap_mb, " MB: ", ddp.bucket_count(), " buckets, ",
            ddp.last_synchronize().started_in_backward, " started during backward()");
    CHECK(ddp.bucket_count() == (cap_mb > 1 ? 1 : 9));  // 1 KB: small tensors share buckets
    CHECK(ddp.last_synchronize().started_in_backward == ddp.bucket_count());
    std::vector<double> values;
    for (const Tensor& p : model.parameters())
      for (const double v : p.to_vector()) values.push_back(v);
    after.push_back(values);
  }
  CHECK(after[0] == after[1]);
}

// A parameter no rank uses keeps no gradient; one only rank 0 uses gets half its gradient on
// both ranks; nothing hangs though the ranks' backward passes reach different parameters.
TEST_CASE("distributed: parameters unused on some ranks or on all") {
  struct Partial : nn::Module {
    nn::Linear used{3, 1}, root_only{3, 1}, never{3, 1};
    Partial() { register_modules({{"used", used}, {"root_only", root_only}, {"never", never}}); }
  } model;
  distributed::DistributedDataParallel ddp(model, group(), {.bucket_cap_mb = 1e-5});
  for (int step = 0; step < 3; ++step) {
    model.zero_grad();
    const Tensor x = full({2, 3}, 1.0 + group().rank());
    Tensor loss = sum(model.used(x));
    if (group().is_root()) loss = loss + sum(model.root_only(x));
    loss.backward();
    ddp.synchronize();
    CHECK_FALSE(model.never.weight.grad().defined());
    REQUIRE(model.root_only.weight.grad().defined());
    check_values(model.root_only.weight.grad(), {1, 1, 1}, 0);  // (2 + 0) / 2
    check_values(model.used.weight.grad(), {3, 3, 3}, 0);       // (2 + 4) / 2
  }
  CHECK(ddp.last_synchronize().started_in_backward < ddp.bucket_count());
}

// Gradients accumulate over backward() calls under no_sync(); a second synced backward() before
// synchronize() is refused.
TEST_CASE("distributed: no_sync() accumulates and a second synced backward is refused") {
  nn::Linear layer(2, 1);
  distributed::DistributedDataParallel ddp(layer, group());
  const double r = group().rank();
  {
    const auto no_sync = ddp.no_sync();
    sum(layer(full({1, 2}, 1 + r))).backward();
  }
  sum(layer(full({1, 2}, 10 + r))).backward();
  ddp.synchronize();
  check_values(layer.weight.grad(), {12, 12}, 0);  // ((1 + 10) + (2 + 11)) / 2
  check_values(layer.bias.grad(), {2}, 0);
  layer.zero_grad();
  sum(layer(ones({1, 2}))).backward();
  CHECK_THROWS_WITH(sum(layer(ones({1, 2}))).backward(),
                    doctest::Contains("twice before synchronize(): call step() or synchronize()"));
  ddp.synchronize();
}

TEST_CASE("distributed: models that differ across ranks are refused on every rank") {
  nn::Linear layer(4, group().is_root() ? 2 : 3);
  const std::string expected = group().is_root()
                                   ? "1 of 2 ranks built a model that differs from rank 0's"
                                   : "parameter weight float32 [3, 4] here, parameter weight "
                                     "float32 [2, 4] on rank 0";
  CHECK_THROWS_WITH(distributed::DistributedDataParallel(layer, group()),
                    doctest::Contains(expected.c_str()));
}

}  // namespace
}  // namespace tapegrad::testing

int main(int argc, char** argv) {
  tapegrad::distributed::ProcessGroup group({.timeout = std::chrono::seconds(60)});
  tapegrad::testing::the_group = &group;
  doctest::Context context(argc, argv);
  const int failures = context.run();
  if (context.shouldExit()) return failures;
  return failures == 0 ? 0 : 1;
}
