#include "machine.hpp"

#include <fmt/format.h>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>

namespace comparison {
namespace {

using Batch = xsimd::batch<float>;
// Enough chains in flight to cover the FMA latency (4 cycles) on two FMA ports, and few enough to
// stay in registers with a and b: 16 of AVX-512's 32, 12 of AVX2's 16 (16 chains there spilled
// to the stack, and the "peak" came out at 58.7 GFLOP/s where the GEMM ran at 88).
constexpr int kChains = XSIMD_WITH_AVX512F ? 16 : 12;
constexpr int64_t kIterations = 1 << 22;

double thread_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

}  // namespace

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string name = "unknown CPU", family = "?", model = "?", flags;
  for (std::string line; std::getline(cpuinfo, line) && line != "";) {  // the first CPU's
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    key.erase(key.find_last_not_of(" \t") + 1);
    const std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (key == "model name") name = value;
    if (key == "cpu family") family = value;
    if (key == "model") model = value;
    if (key == "flags") flags = " " + value + " ";
  }
  std::string extensions;
  for (const auto& [flag, shown] : {std::pair{"avx2", "AVX2"},
                                    {"avx512f", "AVX-512"},
                                    {"avx512_vnni", "AVX512-VNNI"},
                                    {"avx512_bf16", "AVX512-BF16"},
                                    {"amx_tile", "AMX"}}) {
    if (flags.find(fmt::format(" {} ", flag)) != std::string::npos)
      extensions += (extensions.empty() ? "" : ", ") + std::string(shown);
  }
  if (flags.find(" avx512f ") == std::string::npos) extensions += ", no AVX-512";
  return fmt::format("{} (family {}, model {}; {})", name, family, model, extensions);
}

std::pair<double, double> load_average() {
  std::ifstream loadavg("/proc/loadavg");
  double one = 0, five = 0;
  loadavg >> one >> five;
  return {one, five};
}

namespace {

// A dependent chain of scalar FMAs: ~4 cycles each, no memory traffic.
float chain(int64_t length) {
  volatile float seed = 0.5f;
  float x = seed;
  for (int64_t i = 0; i < length; ++i) x = std::fma(x, 0.999999f, 1e-6f);
  return x;
}

template <class Work>
double median_ms(Work&& work) {
  std::array<double, 5> ms{};
  for (double& m : ms) {
    const auto start = std::chrono::steady_clock::now();
    work();
    m = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  }
  std::nth_element(ms.begin(), ms.begin() + 2, ms.end());
  return ms[2];
}

}  // namespace

double free_cores(int threads) {
  constexpr int64_t kLength = 1 << 21;  // ~3 ms
  std::atomic<float> sink = 0;
  const double alone_ms = median_ms([&] { sink = sink + chain(kLength); });
  const double together_ms = median_ms([&] {
#pragma omp parallel num_threads(threads)
    sink = sink + chain(kLength);
  });
  return std::min<double>(threads, threads * alone_ms / together_ms);
}

double measure_core_peak_gflops() {
  // Read through volatiles so that the compiler can neither fold the chains nor merge them (they
  // start apart): acc -> acc·a + b stays near 1 (no denormals, no overflow).
  volatile float a_seed = 0.9999999f, b_seed = 1e-7f, spread = 1e-3f;
  const Batch a(a_seed), b(b_seed);
  double best = 0;
  for (int run = 0; run < 5; ++run) {
    std::array<Batch, kChains> acc;
    for (int i = 0; i < kChains; ++i) acc[i] = Batch(1.0f + spread * static_cast<float>(i));
    const double start = thread_seconds();
    for (int64_t i = 0; i < kIterations; ++i) {
      for (Batch& x : acc) x = xsimd::fma(x, a, b);
    }
    const double seconds = thread_seconds() - start;
    Batch sum(0.0f);
    for (const Batch& x : acc) sum += x;
    volatile float sink = xsimd::hadd(sum);
    static_cast<void>(sink);
    const double flops = 2.0 * kChains * static_cast<double>(Batch::size) * kIterations;
    best = std::max(best, flops / seconds * 1e-9);
  }
  return best;
}

std::string peak_loop_description() {
  return fmt::format("{} FMA loop: {} lanes, {} independent chains, one core",
                     xsimd::default_arch::name(), Batch::size, kChains);
}

}  // namespace comparison
