#include "distributed/data_parallel.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <sstream>

#include "autograd/factories.hpp"
#include "autograd/kernels/functors.hpp"
#include "autograd/kernels/map.hpp"

namespace tapegrad::distributed {
namespace {

constexpr std::string_view kName = "distributed.DistributedDataParallel";

// One line per parameter and buffer: "parameter fc.weight float32 [2, 4]".
std::string model_signature(const nn::Module& module) {
  std::string signature;
  for (const auto& [name, tensor] : module.named_parameters())
    signature +=
        fmt::format("parameter {} {} {}\n", name, dtype_name(tensor.dtype()), tensor.shape());
  for (const auto& [name, tensor] : module.named_buffers())
    signature += fmt::format("buffer {} {} {}\n", name, dtype_name(tensor.dtype()), tensor.shape());
  return signature;
}

// The first line where two signatures differ, from each side ("nothing" past the end of one).
std::pair<std::string, std::string> first_difference(const std::string& mine,
                                                     const std::string& theirs) {
  std::istringstream a(mine), b(theirs);
  std::string line_a, line_b;
  while (true) {
    const bool has_a = static_cast<bool>(std::getline(a, line_a));
    const bool has_b = static_cast<bool>(std::getline(b, line_b));
    if (!has_a && !has_b) return {"", ""};
    if (!has_a) line_a = "nothing";
    if (!has_b) line_b = "nothing";
    if (line_a != line_b) return {line_a, line_b};
  }
}

// Writes gradient / divisor into the parameter's grad(), in place when it has a contiguous one.
template <class T>
void write_average(Tensor& parameter, const T* sum, T divisor) {
  Tensor grad = parameter.grad();
  if (!grad.defined() || !grad.is_contiguous()) {
    grad = Tensor::empty(parameter.shape(), parameter.dtype());
    parameter.set_grad(grad);
  }
  kernels::binary(sum, 1, &divisor, 0, grad.data<T>(), grad.numel(), kernels::Div{});
}

}  // namespace

DistributedDataParallel::DistributedDataParallel(nn::Module& module, const ProcessGroup& group,
                                                 DataParallelOptions options)
    : module_(module), group_(group) {
  if (!(options.bucket_cap_mb > 0))
    fail("{}: bucket_cap_mb is {}; it must be positive", kName, options.bucket_cap_mb);

  // 1. The same parameters and buffers on every rank, or an Error on every rank.
  const std::string signature = model_signature(module);
  const std::string root_signature = group.broadcast_string(signature);
  Tensor ranks_differing = from_vector(std::vector<int64_t>{signature != root_signature}, {1});
  group.all_reduce(ranks_differing);
  if (const int64_t differing = ranks_differing.data<int64_t>()[0]; differing > 0) {
    if (signature == root_signature)
      fail(
          "{}: {}: {} of {} ranks built a model that differs from rank 0's "
          "(their errors name the difference): every rank must build the same model",
          kName, group.describe(), differing, group.size());
    const auto [mine, root] = first_difference(signature, root_signature);
    fail(
        "{}: {}: the model differs from rank 0's: {} here, {} on rank 0 "
        "(every rank must build the same model)",
        kName, group.describe(), mine, root);
  }

  // 2. Rank 0's values everywhere.
  for (auto& [name, tensor] : module.named_parameters()) group.broadcast(tensor);
  for (auto& [name, tensor] : module.named_buffers())
    if (is_floating(tensor.dtype()) || tensor.dtype() == kInt64) group.broadcast(tensor);

  // 3. Buckets, in the reverse order of the parameters, each of one dtype.
  const double cap_bytes = options.bucket_cap_mb * 1024 * 1024;
  const double first_cap_bytes = std::min(options.bucket_cap_mb, kFirstBucketCapMb) * 1024 * 1024;
  auto parameters = module.named_parameters();
  std::reverse(parameters.begin(), parameters.end());
  double bucket_bytes = 0;
  for (auto& [name, parameter] : parameters) {
    if (!parameter.requires_grad()) continue;
    const double bytes = static_cast<double>(parameter.numel() *
                                             static_cast<int64_t>(element_size(parameter.dtype())));
    const bool fits = !buckets_.empty() &&
                      buckets_.back().slots.front().parameter.dtype() == parameter.dtype() &&
                      bucket_bytes + bytes <= (buckets_.size() == 1 ? first_cap_bytes : cap_bytes);
    if (!fits) {
      buckets_.emplace_back();
      bucket_bytes = 0;
    }
    Bucket& bucket = buckets_.back();
    const int64_t offset = bucket.slots.empty()
                               ? 0
                               : bucket.slots.back().offset + bucket.slots.back().parameter.numel();
    bucket.slots.push_back({.name = name, .parameter = parameter, .offset = offset});
    bucket_bytes += bytes;
  }
  for (std::size_t b = 0; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    const Slot& last = bucket.slots.back();
    const auto slots = static_cast<int64_t>(bucket.slots.size());
    bucket.buffer =
        zeros({last.offset + last.parameter.numel() + slots}, {.dtype = last.parameter.dtype()});
    for (std::size_t s = 0; s < bucket.slots.size(); ++s)
      hooks_.push_back(bucket.slots[s].parameter.register_post_accumulate_grad_hook(
          [this, b, s](Tensor& leaf) { on_gradient_ready(b, s, leaf); }));
  }
}

DistributedDataParallel::~DistributedDataParallel() {
  for (Tensor::HookHandle& hook : hooks_) hook.remove();
}

void DistributedDataParallel::on_gradient_ready(std::size_t b, std::size_t s,
                                                const Tensor& parameter) {
  if (!sync_) return;
  const auto started = std::chrono::steady_clock::now();
  Bucket& bucket = buckets_[b];
  Slot& slot = bucket.slots[s];
  if (slot.ready)
    fail(
        "{}: {}: backward() reached '{}' twice before synchronize(): call step() or "
        "synchronize() after each backward() (gradients are not accumulated over several)",
        kName, group_.describe(), slot.name);
  const Tensor grad = parameter.grad().contiguous();
  const int64_t flag = bucket.buffer.numel() - static_cast<int64_t>(bucket.slots.size() - s);
  dispatch_floating(grad.dtype(), kName, [&]<class T>() {
    std::copy_n(grad.data<T>(), grad.numel(), bucket.buffer.data<T>() + slot.offset);
    bucket.buffer.data<T>()[flag] = 1;
  });
  slot.ready = true;
  ++bucket.ready;
  start_full_buckets();
  hook_seconds_ +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

void DistributedDataParallel::start_full_buckets() {
  while (next_to_start_ < buckets_.size() &&
         buckets_[next_to_start_].ready ==
             static_cast<int64_t>(buckets_[next_to_start_].slots.size()))
    start(buckets_[next_to_start_++]);
  poll_started();
}

void DistributedDataParallel::start(Bucket& bucket) {
  bucket.work = group_.all_reduce_async(bucket.buffer, ReduceOp::Sum);
}

void DistributedDataParallel::poll_started() {
  for (std::size_t b = 0; b < next_to_start_; ++b)
    if (buckets_[b].work.pending()) buckets_[b].work.test();
}

void DistributedDataParallel::synchronize() {
  const auto started = std::chrono::steady_clock::now();
  stats_.buckets = bucket_count();
  stats_.started_in_backward = static_cast<int64_t>(next_to_start_);
  stats_.done_in_backward = 0;
  for (std::size_t b = 0; b < next_to_start_; ++b)
    stats_.done_in_backward += buckets_[b].work.test() ? 1 : 0;
  // The buckets not full: the slots without a gradient on this rank add zeros, flagged 0.
  for (std::size_t b = next_to_start_; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    const auto flags = bucket.buffer.numel() - static_cast<int64_t>(bucket.slots.size());
    dispatch_floating(bucket.buffer.dtype(), kName, [&]<class T>() {
      T* values = bucket.buffer.data<T>();
      for (std::size_t s = 0; s < bucket.slots.size(); ++s) {
        const Slot& slot = bucket.slots[s];
        if (slot.ready) continue;
        std::fill_n(values + slot.offset, slot.parameter.numel(), T{0});
        values[flags + static_cast<int64_t>(s)] = 0;
      }
    });
    start(bucket);
  }
  next_to_start_ = buckets_.size();
  // Wait, average, and make ready for the next backward().
  for (Bucket& bucket : buckets_) {
    bucket.work.wait();
    const auto flags = bucket.buffer.numel() - static_cast<int64_t>(bucket.slots.size());
    dispatch_floating(bucket.buffer.dtype(), kName, [&]<class T>() {
      const T* sum = bucket.buffer.data<T>();
      for (std::size_t s = 0; s < bucket.slots.size(); ++s) {
        Slot& slot = bucket.slots[s];
        if (sum[flags + static_cast<int64_t>(s)] > 0)
          write_average(slot.parameter, sum + slot.offset, static_cast<T>(group_.size()));
        slot.ready = false;
      }
    });
    bucket.ready = 0;
  }
  next_to_start_ = 0;
  stats_.wait_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  stats_.hook_seconds = hook_seconds_;
  hook_seconds_ = 0;
}

void DistributedDataParallel::step(optim::Optimizer& optimizer) {
  synchronize();
  optimizer.step();
}

}  // namespace tapegrad::distributed
