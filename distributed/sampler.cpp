#include "distributed/sampler.hpp"

#include <algorithm>
#include <numeric>

#include "autograd/error.hpp"
#include "autograd/generator.hpp"

namespace tapegrad::distributed {

Shard shard(int64_t batch_size, int rank, int world_size) {
  if (batch_size < 0 || world_size < 1 || rank < 0 || rank >= world_size)
    fail(
        "distributed.shard: rank {} of {} ranks, batch of {}: the rank must be in [0, {}) and "
        "the batch size at least 0",
        rank, world_size, batch_size, world_size);
  const int64_t base = batch_size / world_size, extra = batch_size % world_size;
  Shard shard;
  shard.begin = rank * base + std::min<int64_t>(rank, extra);
  shard.end = shard.begin + base + (rank < extra ? 1 : 0);
  shard.loss_scale = batch_size == 0 ? 0.0
                                     : static_cast<double>(world_size * shard.size()) /
                                           static_cast<double>(batch_size);
  return shard;
}

DistributedSampler::DistributedSampler(int64_t dataset_size, int64_t batch_size, uint64_t seed,
                                       int rank, int world_size)
    : dataset_size_(dataset_size),
      batch_size_(batch_size),
      seed_(seed),
      rank_(rank),
      world_size_(world_size) {
  if (dataset_size < 1 || batch_size < 1)
    fail("distributed.DistributedSampler: {} examples in batches of {}: both must be at least 1",
         dataset_size, batch_size);
  shard(batch_size, rank, world_size);  // checks the rank
}

std::vector<int64_t> DistributedSampler::permutation(int64_t epoch) const {
  std::vector<int64_t> order(static_cast<std::size_t>(dataset_size_));
  std::iota(order.begin(), order.end(), int64_t{0});
  Generator generator(seed_ ^ (0x9E3779B97F4A7C15ull * static_cast<uint64_t>(epoch + 1)));
  shuffle(order, generator);
  return order;
}

DistributedSampler::Batch DistributedSampler::batch(int64_t epoch, int64_t step) {
  if (step < 0 || step >= steps_per_epoch())
    fail("distributed.DistributedSampler: step {} is not in [0, {})", step, steps_per_epoch());
  if (epoch != cached_epoch_) {
    order_ = permutation(epoch);
    cached_epoch_ = epoch;
  }
  const int64_t begin = step * batch_size_;
  const int64_t size = std::min(batch_size_, dataset_size_ - begin);
  const Shard part = shard(size, rank_, world_size_);
  const auto first = order_.begin() + begin;
  return {.indices = std::vector<int64_t>(first + part.begin, first + part.end),
          .loss_scale = part.loss_scale};
}

}  // namespace tapegrad::distributed
