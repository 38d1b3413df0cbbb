#include "machine.hpp"

#include <fmt/format.h>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <ctime>
#include <fstream>
#include <vector>

namespace comparison {
namespace {

using Batch = xsimd::batch<float>;
// Enough chains in flight to cover the FMA latency (4 cycles) on two FMA ports, and few enough to
// stay in registers.
constexpr int kChains = 16;
constexpr int64_t kIterations = 1 << 22;

double thread_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

}  // namespace

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

std::pair<double, double> load_average() {
  std::ifstream loadavg("/proc/loadavg");
  double one = 0, five = 0;
  loadavg >> one >> five;
  return {one, five};
}

double omp_region_us(int threads) {
  constexpr int kRegions = 41;
  std::atomic<int> arrived = 0;  // work the compiler cannot drop, so that the region happens
  std::vector<double> us;
  for (int i = 0; i < kRegions; ++i) {
    const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
    arrived.fetch_add(1, std::memory_order_relaxed);
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::nth_element(us.begin(), us.begin() + kRegions / 2, us.end());
  return us[kRegions / 2];
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
