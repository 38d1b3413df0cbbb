// A small data-parallel training run for the distributed tests' scripts: the tiny classifier on
// a global batch of --batch examples shared by the ranks (DistributedSampler), printing on rank
// 0 the global loss of every step ("step 3 loss 0.693147") and at the end the sum of the
// parameters. --stop-rank/--stop-step/--stop-signal make one rank kill or stop itself there, as
// a crashed or frozen machine would.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>

#include "distributed/data_parallel.hpp"
#include "distributed/process_group.hpp"
#include "distributed/sampler.hpp"
#include "tests/distributed/tiny_classifier.hpp"

namespace {

struct Flags {
  int64_t steps = 20;
  int64_t batch = 32;
  double bucket_cap_mb = 25;
  int stop_rank = -1;
  int64_t stop_step = 0;
  std::string stop_signal = "KILL";
  double timeout_seconds = 1800;
};

void train(const Flags& flags, const tapegrad::distributed::ProcessGroup& group) {
  using namespace tapegrad;
  set_num_threads(1);
  manual_seed(1);
  testing::TinyClassifier model;
  distributed::DistributedDataParallel ddp(model, group, {.bucket_cap_mb = flags.bucket_cap_mb});
  optim::AdamW optimizer(model.parameters(), {.lr = 1e-2});
  const testing::TokenData data = testing::tiny_data(flags.steps * flags.batch, 10, 5);
  distributed::DistributedSampler sampler(flags.steps * flags.batch, flags.batch, 7, group.rank(),
                                          group.size());
  for (int64_t step = 0; step < flags.steps; ++step) {
    if (group.rank() == flags.stop_rank && step == flags.stop_step)
      std::raise(flags.stop_signal == "STOP" ? SIGSTOP : SIGKILL);
    const distributed::DistributedSampler::Batch batch = sampler.batch(0, step);
    const auto count = static_cast<int64_t>(batch.indices.size());
    const Tensor index = from_vector(batch.indices, {count});
    optimizer.zero_grad();
    const Tensor loss = cross_entropy(model(index_select(data.ids, 0, index)),
                                      index_select(data.labels, 0, index)) *
                        batch.loss_scale;
    loss.backward();
    ddp.step(optimizer);
    Tensor global = loss.detach().reshape({1}).to(kFloat64);
    group.all_reduce(global, distributed::ReduceOp::Average);
    if (group.is_root()) fmt::print("step {} loss {:.9g}\n", step, global.data<double>()[0]);
  }
  double total = 0;
  for (const Tensor& p : model.parameters()) total += sum(p.to(kFloat64)).item();
  if (group.is_root()) fmt::print("parameter sum {:.9g}\n", total);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"A small data-parallel training run (launch with mpirun)"};
  app.add_option("--steps", flags.steps, "steps to train");
  app.add_option("--batch", flags.batch, "global batch size, shared by the ranks");
  app.add_option("--bucket-mb", flags.bucket_cap_mb, "gradient bucket size in MiB");
  app.add_option("--stop-rank", flags.stop_rank, "the rank that kills or stops itself");
  app.add_option("--stop-step", flags.stop_step, "the step at which it does");
  app.add_option("--stop-signal", flags.stop_signal, "KILL (a crash) or STOP (a freeze)")
      ->check(CLI::IsMember({"KILL", "STOP"}));
  app.add_option("--timeout", flags.timeout_seconds, "seconds a collective call may wait");
  CLI11_PARSE(app, argc, argv);
  tapegrad::distributed::ProcessGroup group(
      {.timeout = std::chrono::milliseconds(static_cast<int64_t>(flags.timeout_seconds * 1000))});
  try {
    train(flags, group);
  } catch (const tapegrad::Error& error) {
    std::fprintf(stderr, "ddp_worker: %s\n", error.what());
    group.abort(1);
  }
  return 0;
}
