#include "machine.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>

namespace comparison {

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

}  // namespace comparison
