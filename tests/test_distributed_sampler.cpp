// The distributed sampler and shards: pure arithmetic on indices, no MPI (the collective calls
// and DistributedDataParallel are tested under mpirun: tests/distributed/).
#include <algorithm>
#include <numeric>

#include "distributed/sampler.hpp"
#include "tests/testing.hpp"

namespace tapegrad::distributed {
namespace {

TEST_CASE("distributed shards cut a batch evenly, the first ranks taking the extra") {
  const Shard first = shard(5, 0, 2), second = shard(5, 1, 2);
  CHECK(first.begin == 0);
  CHECK(first.end == 3);
  CHECK(second.begin == 3);
  CHECK(second.end == 5);
  CHECK(first.loss_scale == doctest::Approx(1.2));  // 2 · 3 / 5
  CHECK(second.loss_scale == doctest::Approx(0.8));
  const Shard empty = shard(1, 1, 2);
  CHECK(empty.size() == 0);
  CHECK(empty.loss_scale == 0);
  for (const int world : {1, 2, 3, 7}) {  // the scales average to 1 whatever the sizes
    double scales = 0;
    for (int rank = 0; rank < world; ++rank) scales += shard(10, rank, world).loss_scale;
    CHECK(scales / world == doctest::Approx(1.0));
  }
  CHECK_THROWS_WITH(shard(4, 2, 2), doctest::Contains("the rank must be in [0, 2)"));
}

// Whatever the world size, the ranks' shards of each step put together are the global batch of
// one process, and every example comes once per epoch.
TEST_CASE("distributed sampler: the same global batches on 1, 2 and 3 ranks") {
  const int64_t examples = 23, batch = 4;
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    DistributedSampler alone(examples, batch, 11, 0, 1);
    std::vector<int64_t> seen;
    for (int64_t step = 0; step < alone.steps_per_epoch(); ++step) {
      const std::vector<int64_t> global = alone.batch(epoch, step).indices;
      seen.insert(seen.end(), global.begin(), global.end());
      for (const int world : {2, 3}) {
        std::vector<int64_t> joined;
        for (int rank = 0; rank < world; ++rank) {
          DistributedSampler part(examples, batch, 11, rank, world);
          const std::vector<int64_t> mine = part.batch(epoch, step).indices;
          joined.insert(joined.end(), mine.begin(), mine.end());
        }
        CHECK(joined == global);
      }
    }
    std::sort(seen.begin(), seen.end());
    std::vector<int64_t> all(examples);
    std::iota(all.begin(), all.end(), int64_t{0});
    CHECK(seen == all);
  }
  DistributedSampler sampler(examples, batch, 11, 0, 1);
  CHECK(sampler.permutation(0) != sampler.permutation(1));
  CHECK(sampler.permutation(1) == DistributedSampler(examples, batch, 11, 1, 2).permutation(1));
  CHECK(sampler.batch(0, 5).indices.size() == 3);  // 23 = 5 · 4 + 3
  CHECK_THROWS_WITH(sampler.batch(0, 6), doctest::Contains("step 6 is not in [0, 6)"));
  CHECK_THROWS_WITH(DistributedSampler(0, 4, 11, 0, 1),
                    doctest::Contains("0 examples in batches of 4: both must be at least 1"));
}

}  // namespace
}  // namespace tapegrad::distributed
