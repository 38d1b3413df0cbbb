// The non-GEMM ops of a transformer training step, at the shapes of config B (batch 32,
// T 128, d 256, 8 heads, FFN 1024), on 1 and 2 threads: time per call and GB/s of the
// bytes the op must read and write; and the tape's own cost per op (tape_chain).
//
//   bench_ops --benchmark_min_time=0.2 --benchmark_filter=dropout
//
// Names read op/threads. Backward cases time forward + backward through the tape.
#include <benchmark/benchmark.h>

#include <cstdint>

#include "autograd/autograd.hpp"
#include "bench/tape_chain.hpp"

using namespace tapegrad;

namespace {

constexpr int64_t kBatch = 32, kTime = 128, kModel = 256, kHeads = 8, kHidden = 1024;
constexpr int64_t kFloat = sizeof(float);

// Runs the benchmark body with the thread count of its argument, restoring the previous one.
class Threads {
 public:
  explicit Threads(const benchmark::State& state) : previous_(tapegrad::num_threads()) {
    tapegrad::set_num_threads(static_cast<int>(state.range(0)));
  }
  ~Threads() { tapegrad::set_num_threads(previous_); }
  Threads(const Threads&) = delete;
  Threads& operator=(const Threads&) = delete;

 private:
  int previous_;
};

void report_bytes(benchmark::State& state, int64_t bytes) {
  state.counters["GB/s"] =
      benchmark::Counter(static_cast<double>(bytes) * static_cast<double>(state.iterations()) / 1e9,
                         benchmark::Counter::kIsRate);
}

// h [B, T, FFN] + bias [FFN]
void bias_add(benchmark::State& state) {
  const Threads threads(state);
  const NoGradGuard no_grad;
  const Tensor h = randn({kBatch, kTime, kHidden}), bias = randn({kHidden});
  for (auto _ : state) benchmark::DoNotOptimize(add(h, bias));
  report_bytes(state, 2 * h.numel() * kFloat);
}

// The bias gradient: g [B, T, FFN] summed to [FFN]
void bias_grad(benchmark::State& state) {
  const Threads threads(state);
  const NoGradGuard no_grad;
  const Tensor g = randn({kBatch, kTime, kHidden});
  for (auto _ : state) benchmark::DoNotOptimize(sum_to(g, {kHidden}));
  report_bytes(state, g.numel() * kFloat);
}

// dropout(0.1) of attention weights [B, H, T, T], forward and backward
void dropout_attention(benchmark::State& state) {
  const Threads threads(state);
  Tensor x = randn({kBatch, kHeads, kTime, kTime}).requires_grad_();
  const Tensor g = ones_like(x);
  for (auto _ : state) {
    dropout(x, 0.1, true).backward(g);
    x.zero_grad();
  }
  report_bytes(state, 4 * x.numel() * kFloat);
}

// softmax of scores [B, H, T, T] along the last dim, forward and backward
void softmax_attention(benchmark::State& state) {
  const Threads threads(state);
  Tensor x = randn({kBatch, kHeads, kTime, kTime}).requires_grad_();
  const Tensor g = randn(x.shape());
  for (auto _ : state) {
    softmax(x, -1).backward(g);
    x.zero_grad();
  }
  report_bytes(state, 5 * x.numel() * kFloat);
}

// layer_norm of [B, T, d] with weight and bias, forward and backward
void layer_norm_model(benchmark::State& state) {
  const Threads threads(state);
  const Tensor x = randn({kBatch, kTime, kModel}).requires_grad_();
  const Tensor weight = ones({kModel}).requires_grad_(), bias = zeros({kModel}).requires_grad_();
  const Tensor g = randn(x.shape());
  for (auto _ : state) {
    layer_norm(x, {kModel}, weight, bias, 1e-5).backward(g);
    for (Tensor t : {x, weight, bias}) t.zero_grad();
  }
  report_bytes(state, 5 * x.numel() * kFloat);
}

// The key of a packed QKV projection as a matmul operand: [B, T, 3d] -> [B, H, D, T], contiguous
void transposed_key_copy(benchmark::State& state) {
  const Threads threads(state);
  const NoGradGuard no_grad;
  const Tensor qkv = randn({kBatch, kTime, 3 * kModel});
  const Tensor key = reshape(narrow(qkv, 2, kModel, kModel), {kBatch, kTime, kHeads, -1});
  const Tensor key_t = key.permute({0, 2, 3, 1});
  for (auto _ : state) benchmark::DoNotOptimize(contiguous(key_t));
  report_bytes(state, 2 * key_t.numel() * kFloat);
}

// zeros [B, T, FFN]
void fill_zeros(benchmark::State& state) {
  const Threads threads(state);
  for (auto _ : state) benchmark::DoNotOptimize(zeros({kBatch, kTime, kHidden}));
  report_bytes(state, kBatch * kTime * kHidden * kFloat);
}

// The tape's own cost (bench/tape_chain.hpp): items/s counts ops.
void tape_chain(benchmark::State& state) {
  const Threads threads(state);
  constexpr int64_t kOps = 1000;
  tapegrad::bench::TapeChain chain(kOps);
  for (auto _ : state) chain();
  state.SetItemsProcessed(state.iterations() * kOps);
}

}  // namespace

BENCHMARK(bias_add)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(bias_grad)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(dropout_attention)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(softmax_attention)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(layer_norm_model)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(transposed_key_copy)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(fill_zeros)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(tape_chain)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK_MAIN();
