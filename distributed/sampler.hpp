// Which examples each rank trains on. A step of data-parallel training takes one global batch,
// the same on every world size, and cuts it into one shard per rank: so the same seed gives the
// same global batches whatever the number of processes, every example is in exactly one rank's
// shard once per epoch, and a run can resume on another number of processes.
//
// Shards differ by at most one example (the first ranks take the extra ones), and a rank's shard
// of a short last batch may be empty. Its loss_scale makes the ranks' average of
// loss_scale · (mean loss over the shard) the mean loss over the global batch:
//
//   loss_scale = world_size · shard size / global batch size
//
// so averaged gradients are those of one process on the whole batch. (An empty shard adds no
// gradient: DistributedDataParallel counts it as zeros.)
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace tapegrad::distributed {

struct Shard {
  int64_t begin = 0;  // [begin, end) of the global batch
  int64_t end = 0;
  double loss_scale = 1;
  int64_t size() const { return end - begin; }
};

// `rank`'s shard of a global batch of `batch_size` examples over `world_size` ranks.
Shard shard(int64_t batch_size, int rank, int world_size);

// PyTorch's DistributedSampler, with global batches: each epoch a permutation of
// [0, dataset_size) drawn from (seed, epoch) alone, cut into batches of batch_size (the last one
// shorter when batch_size does not divide dataset_size), of which this rank takes its shard.
class DistributedSampler {
 public:
  // An Error unless dataset_size >= 1, batch_size >= 1 and 0 <= rank < world_size.
  DistributedSampler(int64_t dataset_size, int64_t batch_size, uint64_t seed, int rank,
                     int world_size);

  int64_t steps_per_epoch() const { return (dataset_size_ + batch_size_ - 1) / batch_size_; }
  // The order of the examples in `epoch`, the same on every rank and every world size.
  std::vector<int64_t> permutation(int64_t epoch) const;

  struct Batch {
    std::vector<int64_t> indices;  // this rank's examples
    double loss_scale = 1;
  };
  // This rank's part of global batch `step` (0 <= step < steps_per_epoch()) of `epoch`.
  Batch batch(int64_t epoch, int64_t step);

 private:
  int64_t dataset_size_;
  int64_t batch_size_;
  uint64_t seed_;
  int rank_;
  int world_size_;
  int64_t cached_epoch_ = -1;  // the epoch whose permutation `order_` holds
  std::vector<int64_t> order_;
};

}  // namespace tapegrad::distributed
