// DistributedDataParallel: data-parallel training of any Module, as PyTorch's
// DistributedDataParallel. Every rank holds the whole model and trains on its own part of each
// batch; their gradients are averaged, so every rank takes the same step and the models stay
// identical (bit for bit: each rank adds the same numbers in the same order).
//
//   distributed::ProcessGroup group;
//   Net model;
//   distributed::DistributedDataParallel ddp(model, group);  // rank 0's weights everywhere
//   optim::AdamW optimizer(model.parameters());
//   for (...) {
//     optimizer.zero_grad();
//     cross_entropy(model(x_of_this_rank), y_of_this_rank).backward();  // all-reduces start
//     ddp.step(optimizer);  // waits for them, averages, optimizer.step()
//   }
//
// Construction checks that every rank has the same parameters and buffers (names, shapes,
// dtypes), else every rank fails with an Error naming the first difference, and then broadcasts
// rank 0's values.
//
// Buckets. The gradients are gathered into flat buckets of about `bucket_cap_mb` each (the first
// of at most 1 MiB, as PyTorch's, so that communication starts early), filled in the reverse
// order of model.parameters() (about the order in which backward() finishes them).
// A hook on each parameter (Tensor::register_post_accumulate_grad_hook) copies its gradient into
// its bucket as soon as the tape has finished it; when a bucket is full its all-reduce starts,
// while backward() goes on with the layers below. Buckets start in their order on every rank
// (MPI needs the same calls in the same order), so a full bucket waits for those before it.
//
// synchronize() (or step()) then starts the buckets not yet started, waits for all, and writes
// each parameter's gradient: the sum over the ranks divided by size(). A parameter that got no
// gradient on a rank (not used by its forward) counts as a zero gradient there; one that got no
// gradient on any rank keeps none, as in single-process training. Each bucket carries one flag
// per parameter, summed with the gradients, to tell the two apart.
//
// One backward() per synchronize(): a hook that fires twice before it is an Error. To accumulate
// gradients over several backward() calls, run all but the last under no_sync() (PyTorch's
// name): its hooks do nothing, the gradients add up locally, and the last backward() all-reduces
// the sums.
//   { const auto no_sync = ddp.no_sync(); loss_a.backward(); }
//   loss_b.backward();
//   ddp.step(optimizer);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "autograd/tensor.hpp"
#include "distributed/process_group.hpp"
#include "nn/module.hpp"
#include "optim/optimizer.hpp"

namespace tapegrad::distributed {

struct DataParallelOptions {
  double bucket_cap_mb = 25;  // PyTorch's bucket_cap_mb (MiB of gradients per bucket)
};
inline constexpr double kFirstBucketCapMb = 1;  // PyTorch's _DEFAULT_FIRST_BUCKET_BYTES

// What the last synchronize() did, for benchmarks and curious users.
struct SynchronizeStats {
  int64_t buckets = 0;
  int64_t started_in_backward = 0;  // buckets whose all-reduce started before synchronize()
  int64_t done_in_backward = 0;     // of those, the ones complete when synchronize() began
  double hook_seconds = 0;  // in the gradient hooks during backward(): copies, starts, polls
  double wait_seconds = 0;  // synchronize()'s time, mostly waiting for all-reduces
};

class DistributedDataParallel {
 public:
  DistributedDataParallel(nn::Module& module, const ProcessGroup& group,
                          DataParallelOptions options = {});
  ~DistributedDataParallel();
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;

  // Finishes the all-reduces of this step's gradients and writes the averages (see the top).
  void synchronize();
  // synchronize(), then optimizer.step().
  void step(optim::Optimizer& optimizer);

  // While the returned guard lives, backward() leaves the gradients to this rank (see the top).
  class NoSync {
   public:
    explicit NoSync(DistributedDataParallel& ddp) : ddp_(ddp), was_syncing_(ddp.sync_) {
      ddp_.sync_ = false;
    }
    ~NoSync() { ddp_.sync_ = was_syncing_; }
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    DistributedDataParallel& ddp_;
    bool was_syncing_;
  };
  [[nodiscard]] NoSync no_sync() { return NoSync(*this); }

  nn::Module& module() { return module_; }
  const ProcessGroup& group() const { return group_; }
  int64_t bucket_count() const { return static_cast<int64_t>(buckets_.size()); }
  const SynchronizeStats& last_synchronize() const { return stats_; }

 private:
  struct Slot {  // one parameter's place in its bucket
    std::string name;
    Tensor parameter;
    int64_t offset = 0;  // of its gradient in the bucket's buffer, in elements
    bool ready = false;  // its gradient is in the buffer this step
  };
  struct Bucket {
    std::vector<Slot> slots;
    Tensor buffer;  // the gradients, then one flag per slot: 1 where this rank has the gradient
    int64_t ready = 0;
    Work work;
  };

  void on_gradient_ready(std::size_t bucket, std::size_t slot, const Tensor& parameter);
  void start_full_buckets();  // in order, up to the first bucket that is not full
  void start(Bucket& bucket);
  void poll_started();  // lets MPI move the started all-reduces on

  nn::Module& module_;
  const ProcessGroup& group_;
  std::vector<Bucket> buckets_;
  std::size_t next_to_start_ = 0;
  std::vector<Tensor::HookHandle> hooks_;
  bool sync_ = true;         // false under no_sync()
  double hook_seconds_ = 0;  // this step's, so far
  SynchronizeStats stats_;
};

}  // namespace tapegrad::distributed
