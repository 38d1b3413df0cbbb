// Data-parallel training steps of the benchmark classifiers (configs A and B of
// classifier_shapes.hpp), launched by mpirun: each rank trains on a batch of its own of the
// config's size, so N ranks take N batches a step. Four ways to take a step, in turns (rounds of
// --steps-per-turn steps each, so that the machine's drift slows all alike):
//   alone     rank 0 alone computes (the others sleep at the next barrier): one process's step
//   local     every rank computes, no communication
//   ddp       DistributedDataParallel: each bucket's all-reduce starts during backward()
//   blocking  after backward(), a barrier, then every gradient all-reduced at once (timed apart)
// Rank 0 prints, for each, the median step time and the throughput (sequences a second over all
// ranks), for ddp the time each step spent in the gradient hooks, in synchronize(), and waiting
// there for a slower rank (the latest end of backward() over the ranks minus this rank's: load
// imbalance, not communication); then the ddp throughput over one rank's (2 · alone / ddp for 2
// ranks) and the share of the all-reduce hidden behind backward(), per step:
//   hidden = 1 − (hooks + synchronize − waiting for a slower rank) / (blocking all-reduce)
//
// --all-reduce-sizes times all-reduces alone, 4 KB to 64 MB, and fits the ring model's terms
// (docs/distributed.md): a ring all-reduce of n bytes over p ranks sends 2(p − 1) messages of
// n/p bytes one after the other, so
//   t(n) = 2(p − 1)·α + 2(p − 1)/p · n·β
// with α the latency of one message and β the seconds per byte; the fit takes α from the
// smallest size and β from 1 MB and 16 MB (the sizes of gradient buckets).
//
//   mpirun -np 2 --bind-to core build/release/bench/data_parallel --config B
// bench/data_parallel.sh runs both configs at 1 and 2 ranks and prints the table.
#include <fmt/format.h>
#include <tapegrad/tapegrad.hpp>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "bench/train_step.hpp"
#include "distributed/data_parallel.hpp"
#include "distributed/process_group.hpp"

namespace {

using namespace tapegrad;
using Clock = std::chrono::steady_clock;

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0.0 : values[values.size() / 2];
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The model's gradients all-reduced in one flat buffer (`flat`, made once, as a bucket is),
// after backward(): what the step would cost without overlap. Returns the all-reduce's seconds.
double all_reduce_blocking(nn::Module& model, const distributed::ProcessGroup& group,
                           Tensor& flat) {
  const std::vector<Tensor> parameters = model.parameters();
  float* at = flat.data<float>();
  for (const Tensor& p : parameters) {
    const Tensor grad = p.grad().contiguous();
    std::copy_n(grad.data<float>(), grad.numel(), at);
    at += grad.numel();
  }
  group.barrier();  // a slower rank's compute is not the all-reduce's time
  const auto started = Clock::now();
  group.all_reduce(flat, distributed::ReduceOp::Average);
  const double seconds = seconds_since(started);
  at = flat.data<float>();
  for (const Tensor& p : parameters) {
    std::copy_n(at, p.numel(), p.grad().data<float>());
    at += p.numel();
  }
  return seconds;
}

// Medians of all-reduces of float32 buffers, 4 KB to 64 MB, and the ring model's α and β.
void time_all_reduces(const distributed::ProcessGroup& group) {
  const double p = group.size(), hops = 2 * (p - 1);
  std::vector<std::pair<double, double>> points;  // bytes, seconds
  if (group.is_root()) fmt::print("{:>10} | {:>10} | {:>12}\n", "bytes", "ms", "bus GB/s");
  for (int64_t bytes = 4096; bytes <= (int64_t{64} << 20); bytes *= 4) {
    Tensor buffer = full({bytes / 4}, 1.0);
    std::vector<double> seconds;
    for (int repeat = 0; repeat < 12; ++repeat) {
      group.barrier();
      const auto started = Clock::now();
      group.all_reduce(buffer);
      if (repeat >= 2) seconds.push_back(seconds_since(started));
    }
    const double t = median(seconds);
    points.emplace_back(static_cast<double>(bytes), t);
    if (group.is_root())
      fmt::print("{:>10} | {:>10.3f} | {:>12.2f}\n", bytes, 1e3 * t,
                 hops / p * static_cast<double>(bytes) / t / 1e9);
  }
  const auto& [n1, t1] = points[4];  // 1 MB
  const auto& [n2, t2] = points[6];  // 16 MB
  const double beta = (t2 - t1) / (n2 - n1) / (hops / p);
  const double alpha = points.front().second / hops;
  if (group.is_root())
    fmt::print("ring model: alpha {:.1f} us a message, beta {:.3f} ns a byte ({:.2f} GB/s)\n",
               1e6 * alpha, 1e9 * beta, 1 / beta / 1e9);
}

struct Timings {
  std::vector<double> step, hooks, wait, slower_rank, all_reduce;  // seconds per step
};

// How long this rank waited for the slowest to reach `end` (steady clock, the same on every
// process of one machine; across machines, their clocks' offset adds in).
double wait_for_slowest(const distributed::ProcessGroup& group, Clock::time_point end) {
  Tensor ends = zeros({group.size()}, {.dtype = kFloat64});
  const double mine = std::chrono::duration<double>(end.time_since_epoch()).count();
  ends.data<double>()[group.rank()] = mine;
  group.all_reduce(ends);
  const std::vector<double> all = ends.to_vector();
  return *std::max_element(all.begin(), all.end()) - mine;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config = "B";
  std::vector<std::string> modes = {"alone", "local", "ddp", "blocking"};
  int threads = 1, rounds = 4, steps_per_turn = 5, warmup = 2;
  double bucket_cap_mb = 25;
  int64_t progress_us = 100;
  bool all_reduce_sizes = false;
  CLI::App app{"Data-parallel training steps of the benchmark classifiers (under mpirun)"};
  app.add_option("--config", config, "A or B")->check(CLI::IsMember({"A", "B"}));
  app.add_option("--modes", modes, "alone, local, ddp, blocking")
      ->check(CLI::IsMember({"alone", "local", "ddp", "blocking"}));
  app.add_option("--threads", threads, "kernel threads per rank");
  app.add_option("--rounds", rounds, "turns of each mode");
  app.add_option("--steps-per-turn", steps_per_turn, "timed steps per turn");
  app.add_option("--warmup", warmup, "untimed steps before each turn");
  app.add_option("--bucket-mb", bucket_cap_mb, "DistributedDataParallel's bucket_cap_mb");
  app.add_option("--progress-us", progress_us, "the progress thread's interval (0: none)");
  app.add_flag("--all-reduce-sizes", all_reduce_sizes, "time all-reduces alone, fit alpha, beta");
  CLI11_PARSE(app, argc, argv);

  distributed::ProcessGroup group({.progress_interval = std::chrono::microseconds(progress_us)});
  if (all_reduce_sizes) {
    time_all_reduces(group);
    return 0;
  }
  set_num_threads(threads);
  const bench::ClassifierShape& shape = config == "A" ? bench::kClassifierA : bench::kClassifierB;
  manual_seed(1);
  bench::BenchClassifier model(shape);
  distributed::DistributedDataParallel ddp(model, group, {.bucket_cap_mb = bucket_cap_mb});
  optim::AdamW optimizer(model.parameters(), {.lr = 1e-3, .weight_decay = 1e-2});
  manual_seed(100 + static_cast<uint64_t>(group.rank()));  // each rank its own batches, dropout
  bench::TokenBatches batches(shape);

  Tensor flat = zeros({model.num_parameters()});  // the blocking mode's buffer
  std::map<std::string, Timings> timings;
  for (int round = 0; round < rounds; ++round)
    for (const std::string& mode : modes)
      for (int step = 0; step < warmup + steps_per_turn; ++step) {
        group.barrier();  // the ranks start each step together
        const auto [ids, labels] = batches.next();
        const auto started = Clock::now();
        optimizer.zero_grad();
        double all_reduce_seconds = 0;
        Clock::time_point backward_end;
        if (mode == "ddp") {
          cross_entropy(model.forward(ids), labels).backward();
          backward_end = Clock::now();
          ddp.synchronize();
          optimizer.step();
        } else if (mode != "alone" || group.is_root()) {
          {
            const auto no_sync = ddp.no_sync();  // the hooks stay quiet
            cross_entropy(model.forward(ids), labels).backward();
          }
          if (mode == "blocking") all_reduce_seconds = all_reduce_blocking(model, group, flat);
          optimizer.step();
        }
        const double seconds = seconds_since(started);
        const double slower_rank = mode == "ddp" ? wait_for_slowest(group, backward_end) : 0.0;
        if (step < warmup) continue;
        Timings& t = timings[mode];
        t.step.push_back(seconds);
        t.hooks.push_back(mode == "ddp" ? ddp.last_synchronize().hook_seconds : 0.0);
        t.wait.push_back(mode == "ddp" ? ddp.last_synchronize().wait_seconds : 0.0);
        t.slower_rank.push_back(slower_rank);
        t.all_reduce.push_back(all_reduce_seconds);
      }

  if (!group.is_root()) return 0;
  fmt::print("config {}, {} rank(s) x {} thread(s), {} buckets of <= {} MiB, {} steps a mode\n",
             config, group.size(), threads, ddp.bucket_count(), bucket_cap_mb,
             rounds * steps_per_turn);
  fmt::print("{:>9} | {:>10} | {:>8} | {:>8} | {:>14} | {:>13} | {:>13}\n", "mode", "step ms",
             "seq/s", "hooks ms", "synchronize ms", "slower rank ms", "all-reduce ms");
  for (const std::string& mode : modes) {
    const Timings& t = timings[mode];
    const double ranks = mode == "alone" ? 1 : group.size();
    fmt::print("{:>9} | {:>10.2f} | {:>8.1f} | {:>8.2f} | {:>14.2f} | {:>13.2f} | {:>13.2f}\n",
               mode, 1e3 * median(t.step), ranks * shape.batch / median(t.step),
               1e3 * median(t.hooks), 1e3 * median(t.wait), 1e3 * median(t.slower_rank),
               1e3 * median(t.all_reduce));
  }
  fmt::print("last ddp step: {} buckets, {} started during backward(), {} of them complete\n",
             ddp.last_synchronize().buckets, ddp.last_synchronize().started_in_backward,
             ddp.last_synchronize().done_in_backward);
  if (timings.count("ddp") && timings.count("alone"))
    fmt::print("ddp throughput over one rank's: {:.2f}x\n",
               group.size() * median(timings["alone"].step) / median(timings["ddp"].step));
  if (timings.count("ddp") && timings.count("blocking")) {
    const Timings& ddp_steps = timings["ddp"];
    std::vector<double> exposed;
    for (std::size_t i = 0; i < ddp_steps.step.size(); ++i)
      exposed.push_back(ddp_steps.hooks[i] +
                        std::max(0.0, ddp_steps.wait[i] - ddp_steps.slower_rank[i]));
    const double all_reduce = median(timings["blocking"].all_reduce);
    fmt::print(
        "all-reduce hidden behind backward: {:.1f}% (exposed {:.2f} ms a step of {:.2f} ms)\n",
        100 * (1 - median(exposed) / all_reduce), 1e3 * median(exposed), 1e3 * all_reduce);
  }
  return 0;
}
