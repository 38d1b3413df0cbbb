// Kernel bandwidth: each SIMD kernel against its scalar reference in the same binary, in GB/s of
// bytes read plus bytes written, on float data in cache and out of cache.
//
//   bench_kernels --benchmark_min_time=0.1 --benchmark_filter=softmax
//
// Names read kernel<simd|scalar>/sizes. The scalar references are plain loops that the compiler
// may auto-vectorize (add, sum) but not through std::exp or std::erf.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "autograd/kernels/functors.hpp"
#include "autograd/kernels/layer_norm.hpp"
#include "autograd/kernels/map.hpp"
#include "autograd/kernels/reduce.hpp"
#include "autograd/kernels/softmax.hpp"

namespace k = tapegrad::kernels;

namespace {

constexpr int64_t kInCache = int64_t{1} << 14;     // 64 KiB per operand: in L2
constexpr int64_t kOutOfCache = int64_t{1} << 25;  // 128 MiB per operand: past the L3

// Deterministic values in [-1, 1), cheap to make at 32M elements.
std::vector<float> values(int64_t n, int64_t seed = 0) {
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    out[i] = static_cast<float>((i * 7919 + seed * 104729) % 2000) / 1000 - 1;
  return out;
}

void report_bandwidth(benchmark::State& state, int64_t bytes_per_iteration) {
  state.counters["GB/s"] = benchmark::Counter(
      static_cast<double>(bytes_per_iteration) * static_cast<double>(state.iterations()) / 1e9,
      benchmark::Counter::kIsRate);
}

constexpr int64_t kFloat = sizeof(float);

// out = a + b elementwise, same shape.
template <bool kSimd>
void add_same_shape(benchmark::State& state) {
  const int64_t n = state.range(0);
  const std::vector<float> a = values(n, 1), b = values(n, 2);
  std::vector<float> out(n);
  for (auto _ : state) {
    if constexpr (kSimd) {
      k::binary(a.data(), 1, b.data(), 1, out.data(), n, k::Add{});
    } else {
      k::binary_reference(a.data(), 1, b.data(), 1, out.data(), n, k::Add{});
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  report_bandwidth(state, 3 * n * kFloat);
}

// out[r, :] = x[r, :] + b[r]: one value broadcast along each row (step 0).
template <bool kSimd>
void add_broadcast_row(benchmark::State& state) {
  const int64_t rows = state.range(0), n = state.range(1);
  const std::vector<float> x = values(rows * n, 1), b = values(rows, 2);
  std::vector<float> out(rows * n);
  for (auto _ : state) {
    for (int64_t r = 0; r < rows; ++r) {
      if constexpr (kSimd) {
        k::binary(x.data() + r * n, 1, b.data() + r, 0, out.data() + r * n, n, k::Add{});
      } else {
        k::binary_reference(x.data() + r * n, 1, b.data() + r, 0, out.data() + r * n, n, k::Add{});
      }
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  report_bandwidth(state, (2 * rows * n + rows) * kFloat);
}

template <class Op, bool kSimd>
void unary(benchmark::State& state) {
  const int64_t n = state.range(0);
  const std::vector<float> x = values(n);
  std::vector<float> out(n);
  for (auto _ : state) {
    if constexpr (kSimd) {
      k::unary(x.data(), out.data(), n, Op{});
    } else {
      k::unary_reference(x.data(), out.data(), n, Op{});
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  report_bandwidth(state, 2 * n * kFloat);
}

// [outer, n, inner] -> [outer, inner]: rows when inner is 1, columns (a bias gradient) otherwise.
template <bool kSimd>
void sum(benchmark::State& state) {
  const int64_t outer = state.range(0), n = state.range(1), inner = state.range(2);
  const std::vector<float> x = values(outer * n * inner);
  std::vector<float> out(outer * inner);
  for (auto _ : state) {
    if constexpr (kSimd) {
      k::sum(x.data(), outer, n, inner, out.data());
    } else {
      k::sum_reference(x.data(), outer, n, inner, out.data());
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  report_bandwidth(state, (outer * n * inner + outer * inner) * kFloat);
}

template <bool kSimd>
void softmax_rows(benchmark::State& state) {
  const int64_t rows = state.range(0), n = state.range(1);
  const std::vector<float> x = values(rows * n);
  std::vector<float> y(rows * n);
  for (auto _ : state) {
    if constexpr (kSimd) {
      k::softmax(x.data(), rows, n, 1, y.data());
    } else {
      k::softmax_reference(x.data(), rows, n, 1, y.data());
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  report_bandwidth(state, 2 * rows * n * kFloat);
}

template <bool kSimd>
void softmax_backward_rows(benchmark::State& state) {
  const int64_t rows = state.range(0), n = state.range(1);
  const std::vector<float> y = values(rows * n, 1), g = values(rows * n, 2);
  std::vector<float> dx(rows * n);
  for (auto _ : state) {
    if constexpr (kSimd) {
      k::softmax_backward(y.data(), g.data(), rows, n, 1, dx.data());
    } else {
      k::softmax_backward_reference(y.data(), g.data(), rows, n, 1, dx.data());
    }
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  report_bandwidth(state, 3 * rows * n * kFloat);
}

template <bool kSimd>
void layer_norm_forward(benchmark::State& state) {
  const int64_t rows = state.range(0), n = state.range(1);
  const std::vector<float> x = values(rows * n), gamma = values(n, 1), beta = values(n, 2);
  std::vector<float> y(rows * n), mean(rows), rstd(rows);
  for (auto _ : state) {
    if constexpr (kSimd) {
      k::layer_norm(x.data(), gamma.data(), beta.data(), rows, n, 1e-5f, y.data(), mean.data(),
                    rstd.data());
    } else {
      k::layer_norm_reference(x.data(), gamma.data(), beta.data(), rows, n, 1e-5f, y.data(),
                              mean.data(), rstd.data());
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  report_bandwidth(state, 2 * rows * n * kFloat);
}

template <bool kSimd>
void layer_norm_backward(benchmark::State& state) {
  const int64_t rows = state.range(0), n = state.range(1);
  const std::vector<float> x = values(rows * n, 1), g = values(rows * n, 2), gamma = values(n, 3);
  std::vector<float> y(rows * n), mean(rows), rstd(rows), dx(rows * n), dgamma(n), dbeta(n);
  k::layer_norm(x.data(), gamma.data(), static_cast<const float*>(nullptr), rows, n, 1e-5f,
                y.data(), mean.data(), rstd.data());
  for (auto _ : state) {
    if constexpr (kSimd) {
      k::layer_norm_backward(x.data(), g.data(), gamma.data(), mean.data(), rstd.data(), rows, n,
                             dx.data(), dgamma.data(), dbeta.data());
    } else {
      k::layer_norm_backward_reference(x.data(), g.data(), gamma.data(), mean.data(), rstd.data(),
                                       rows, n, dx.data(), dgamma.data(), dbeta.data());
    }
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  report_bandwidth(state, 3 * rows * n * kFloat);
}

// Registers the SIMD kernel and its scalar reference under one name, with the same arguments.
template <class Configure>
void register_pair(const char* name, void (*simd)(benchmark::State&),
                   void (*scalar)(benchmark::State&), Configure configure) {
  configure(benchmark::RegisterBenchmark((std::string(name) + "<simd>").c_str(), simd));
  configure(benchmark::RegisterBenchmark((std::string(name) + "<scalar>").c_str(), scalar));
}

const auto kElementSizes = [](benchmark::internal::Benchmark* b) {
  b->Arg(kInCache)->Arg(kOutOfCache);
};
const auto kRowShapes = [](benchmark::internal::Benchmark* b) {
  b->Args({4096, 128})->Args({4096, 1024})->Args({65536, 1024});
};

const bool kRegistered = [] {
  register_pair("add", add_same_shape<true>, add_same_shape<false>, kElementSizes);
  register_pair("add_broadcast_row", add_broadcast_row<true>, add_broadcast_row<false>, kRowShapes);
  register_pair("exp", unary<k::Exp, true>, unary<k::Exp, false>, kElementSizes);
  register_pair("gelu", unary<k::Gelu, true>, unary<k::Gelu, false>, kElementSizes);
  register_pair("sum", sum<true>, sum<false>, [](benchmark::internal::Benchmark* b) {
    b->Args({4096, 128, 1})->Args({4096, 1024, 1})->Args({65536, 1024, 1})->Args({1, 4096, 256});
  });
  register_pair("softmax_rows", softmax_rows<true>, softmax_rows<false>, kRowShapes);
  register_pair("softmax_backward_rows", softmax_backward_rows<true>, softmax_backward_rows<false>,
                kRowShapes);
  const auto layer_norm_shapes = [](benchmark::internal::Benchmark* b) {
    b->Args({4096, 256})->Args({131072, 256});
  };
  register_pair("layer_norm_forward", layer_norm_forward<true>, layer_norm_forward<false>,
                layer_norm_shapes);
  register_pair("layer_norm_backward", layer_norm_backward<true>, layer_norm_backward<false>,
                layer_norm_shapes);
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
