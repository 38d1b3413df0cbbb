#include "peak_memory.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

namespace comparison {
namespace {

// A field of /proc/self/status in kB ("VmRSS", "VmHWM"), in MB.
double status_mb(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream value(line.substr(field.size() + 1));
      double kb = 0;
      value >> kb;
      return kb / 1024;
    }
  }
  return 0;
}

// Resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0).
bool reset_high_water_mark() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";
  return static_cast<bool>(clear_refs.flush());
}

std::string quoted(const std::string& argument) { return "'" + argument + "'"; }

}  // namespace

std::string to_string(Side side) { return side == Side::Tapegrad ? "tapegrad" : "reference"; }

PeakMemory measure_peak_here(const Case& c, Side side, int threads, ReferenceThreads reference,
                             int steps) {
  if (!reset_high_water_mark())
    fmt::print(stderr, "compare: cannot reset the peak RSS; it counts from the process start\n");
  PeakMemory peak{.base_mb = status_mb("VmRSS")};
  {
    const std::unique_ptr<Runner> runner =
        side == Side::Tapegrad ? make_tapegrad_runner(c) : make_reference_runner(c);
    for (int i = 0; i < steps; ++i) {
      if (side == Side::Tapegrad)
        use_tapegrad_threads(threads);
      else
        use_reference_threads(reference);
      runner->step();
    }
  }
  peak.peak_mb = status_mb("VmHWM") - peak.base_mb;
  return peak;
}

void print_peak(const PeakMemory& peak) {
  fmt::print("{}\n", nlohmann::json{{"peak_mb", peak.peak_mb}, {"base_mb", peak.base_mb}}.dump());
}

std::optional<PeakMemory> measure_peak_in_child(const std::filesystem::path& executable,
                                                const Case& c, Side side, int threads,
                                                ReferenceThreads reference) {
  const std::string command =
      fmt::format("{} --peak-only --cases {} --side {} --threads {} --intra-op {} --blas {}",
                  quoted(executable.string()), quoted(c.id()), to_string(side), threads,
                  reference.intra_op, reference.blas);
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    fmt::print(stderr, "compare: cannot run {}\n", command);
    return std::nullopt;
  }
  std::string output;
  char buffer[4096];
  while (const size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  // The answer is the last line.
  const size_t last = output.find_last_of('\n', output.size() >= 2 ? output.size() - 2 : 0);
  const std::string line = last == std::string::npos ? output : output.substr(last + 1);
  const nlohmann::json answer = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (status != 0 || !answer.is_object() || !answer.contains("peak_mb")) {
    fmt::print(stderr, "compare: {} failed (status {}): {}\n", command, status, output);
    return std::nullopt;
  }
  return PeakMemory{.peak_mb = answer["peak_mb"], .base_mb = answer["base_mb"]};
}

}  // namespace comparison
