// GFLOP/s of tapegrad's gemm<float> against OpenBLAS's cblas_sgemm, in one binary, at 1 and 2
// threads, on square and transformer shapes (C[M,N] = A[M,K] B[K,N], row-major, beta = 0); and
// tapegrad's int8 GEMM against its float one on a linear layer's products.
// "%peak" is the share of the fp32 peak of the cores in use: independent FMAs on the widest SIMD
// registers of this build, measured (bench/core_peak.hpp). Not from the clock: the "cpu MHz" of
// /proc/cpuinfo is the base clock, and a timed chain of dependent FMAs times an assumed latency
// of 4 cycles gave half the clock on an AMD EPYC Zen 3.
//
// OpenBLAS 0.3.21 does not recognise CPUs newer than it and then falls back to its SSE3 kernels
// ("Prescott"); the context line "openblas_core" shows which kernels it uses. Force the AVX-512
// ones with OPENBLAS_CORETYPE=SkylakeX.
#include "autograd/kernels/gemm.hpp"
#include "autograd/kernels/gemm_int8.hpp"
#include "autograd/threads.hpp"
#include "bench/core_peak.hpp"

#include <benchmark/benchmark.h>
#ifdef TAPEGRAD_HAVE_OPENBLAS
#include <cblas.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

// The fp32 peak of one core in FLOP/s (bench/core_peak.hpp), measured once.
double core_peak_flops() {
  static const double flops = 1e9 * tapegrad::bench::measure_core_peak_gflops();
  return flops;
}

std::vector<float> random_matrix(int64_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1, 1);
  std::vector<float> values(size);
  for (float& x : values) x = uniform(rng);
  return values;
}

// C = op(A) op(B), A stored M x K or (trans_a) K x M, B stored K x N or (trans_b) N x K.
void tapegrad_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* a,
                    const float* b, float* c) {
  using tapegrad::kernels::Transpose;
  tapegrad::kernels::gemm<float>(Transpose{trans_a}, Transpose{trans_b}, M, N, K, 1.0f, a,
                                 trans_a ? M : K, b, trans_b ? K : N, 0.0f, c, N);
}

// Arguments: M, K, N, threads, trans_a, trans_b.
template <auto multiply, auto set_threads>
void BM_sgemm(benchmark::State& state) {
  const int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  const bool trans_a = state.range(4) != 0, trans_b = state.range(5) != 0;
  set_threads(threads);
  const std::vector<float> a = random_matrix(M * K, 1);
  const std::vector<float> b = random_matrix(K * N, 2);
  std::vector<float> c(M * N);
  for (auto _ : state) {
    multiply(trans_a, trans_b, M, N, K, a.data(), b.data(), c.data());
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * M * N * K;
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["%peak"] = benchmark::Counter(100 * flops / (core_peak_flops() * threads),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

// Projections of a small transformer: tokens x d_model x width.
struct TransformerShape {
  int64_t M, K, N;
};
constexpr TransformerShape kTransformerShapes[] = {{1024, 64, 64},    {1024, 64, 192},
                                                   {4096, 256, 256},  {4096, 256, 768},
                                                   {4096, 256, 1024}, {4096, 1024, 256}};

// Untransposed operands on every shape, then the transposes of the backward pass
// (dX = dY W^T: B transposed; dW = X^T dY: A transposed) on two of them.
void shapes(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"M", "K", "N", "threads", "ta", "tb"})->UseRealTime();
  bench->Unit(benchmark::kMicrosecond);
  for (int64_t threads : {1, 2}) {
    for (int64_t n : {128, 256, 512, 1024, 2048}) bench->Args({n, n, n, threads, 0, 0});
    for (const TransformerShape& s : kTransformerShapes) {
      bench->Args({s.M, s.K, s.N, threads, 0, 0});
    }
  }
  for (auto [trans_a, trans_b] : {std::pair{0, 1}, {1, 0}}) {
    bench->Args({1024, 1024, 1024, 1, trans_a, trans_b});
    bench->Args({4096, 256, 768, 1, trans_a, trans_b});
  }
}

BENCHMARK(BM_sgemm<tapegrad_sgemm, tapegrad::set_num_threads>)->Name("tapegrad")->Apply(shapes);

// int8 against float32 on a linear layer's product, y = x Wᵀ (W stored [N, K], packed once as a
// model's weights are): the transformer shapes at 1 and 2 threads. "GOP/s" counts 2 M N K.
void linear_shapes(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"M", "K", "N", "threads", "ta", "tb"})->UseRealTime();
  bench->Unit(benchmark::kMicrosecond);
  for (int64_t threads : {1, 2})
    for (const TransformerShape& s : kTransformerShapes)
      bench->Args({s.M, s.K, s.N, threads, 0, 1});
}

BENCHMARK(BM_sgemm<tapegrad_sgemm, tapegrad::set_num_threads>)
    ->Name("tapegrad_linear_f32")
    ->Apply(linear_shapes);

std::vector<int8_t> random_int8(int64_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(-128, 127);
  std::vector<int8_t> values(size);
  for (int8_t& x : values) x = static_cast<int8_t>(byte(rng));
  return values;
}

void BM_gemm_int8(benchmark::State& state) {
  const int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  tapegrad::set_num_threads(threads);
  const std::vector<int8_t> a = random_int8(M * K, 1), w = random_int8(N * K, 2);
  const tapegrad::kernels::PackedInt8Weights packed =
      tapegrad::kernels::pack_int8_weights(w.data(), N, K, K);
  std::vector<int32_t> c(M * N);
  for (auto _ : state) {
    tapegrad::kernels::gemm_int8(M, a.data(), K, packed, c.data(), N);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["GOP/s"] =
      benchmark::Counter(2e-9 * M * N * K, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_gemm_int8)->Name("tapegrad_int8")->Apply(linear_shapes);

#ifdef TAPEGRAD_HAVE_OPENBLAS
void openblas_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* a,
                    const float* b, float* c) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, a, trans_a ? M : K, b,
              trans_b ? K : N, 0.0f, c, N);
}

BENCHMARK(BM_sgemm<openblas_sgemm, openblas_set_num_threads>)->Name("openblas")->Apply(shapes);
#endif

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("core_peak_GFLOPs", std::to_string(core_peak_flops() * 1e-9));
  benchmark::AddCustomContext("core_peak_loop", tapegrad::bench::peak_loop_description());
#ifdef TAPEGRAD_HAVE_OPENBLAS
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
#endif
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
