// The fp32 peak of one core, which GEMM figures are a share of: GFLOP/s of independent fused
// multiply-adds on the widest SIMD registers this binary targets (xsimd's default architecture).
// Timed in thread CPU time, best of several runs, so that other processes on the core do not
// lower it. Shared by bench_gemm ("%peak") and bench/compare (its GEMM table).
#pragma once

#include <fmt/format.h>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <ctime>
#include <string>

namespace tapegrad::bench {

namespace detail {

using PeakBatch = xsimd::batch<float>;
// Enough chains in flight to cover the FMA latency (4 cycles) on two FMA ports, and few enough to
// stay in registers with a and b: 16 of AVX-512's 32, 12 of AVX2's 16 (16 chains there spilled
// to the stack, and the "peak" came out at 58.7 GFLOP/s where the GEMM ran at 88).
inline constexpr int kPeakChains = XSIMD_WITH_AVX512F ? 16 : 12;
inline constexpr int64_t kPeakIterations = 1 << 22;

inline double thread_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

}  // namespace detail

inline double measure_core_peak_gflops() {
  using detail::PeakBatch;
  // Read through volatiles so that the compiler can neither fold the chains nor merge them (they
  // start apart): acc -> acc·a + b stays near 1 (no denormals, no overflow).
  volatile float a_seed = 0.9999999f, b_seed = 1e-7f, spread = 1e-3f;
  const PeakBatch a(a_seed), b(b_seed);
  double best = 0;
  for (int run = 0; run < 5; ++run) {
    std::array<PeakBatch, detail::kPeakChains> acc;
    for (int i = 0; i < detail::kPeakChains; ++i)
      acc[i] = PeakBatch(1.0f + spread * static_cast<float>(i));
    const double start = detail::thread_seconds();
    for (int64_t i = 0; i < detail::kPeakIterations; ++i) {
      for (PeakBatch& x : acc) x = xsimd::fma(x, a, b);
    }
    const double seconds = detail::thread_seconds() - start;
    PeakBatch sum(0.0f);
    for (const PeakBatch& x : acc) sum += x;
    volatile float sink = xsimd::hadd(sum);
    static_cast<void>(sink);
    const double flops =
        2.0 * detail::kPeakChains * static_cast<double>(PeakBatch::size) * detail::kPeakIterations;
    best = std::max(best, flops / seconds * 1e-9);
  }
  return best;
}

// "avx512bw FMA loop: 16 lanes, 16 independent chains, one core"
inline std::string peak_loop_description() {
  return fmt::format("{} FMA loop: {} lanes, {} independent chains, one core",
                     xsimd::default_arch::name(), detail::PeakBatch::size, detail::kPeakChains);
}

}  // namespace tapegrad::bench
