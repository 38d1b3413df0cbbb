#include "machine.hpp"

#include <fmt/format.h>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <array>
#include <ctime>
#include <fstream>

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
