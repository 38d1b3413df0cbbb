// Peak memory of one side of one case, in a fresh process: the binary re-runs itself with
// --peak-only for that case and side (a process's peak RSS only grows, and memory the allocator
// keeps after earlier cases would hide a later case's growth). The child resets the kernel's
// high-water mark (/proc/self/clear_refs) once its libraries are loaded, notes its RSS, builds
// the side's model and runs a few steps; the answer is the peak above that base, i.e. the case's
// own memory: weights, optimizer state, activations, allocator caches, lazily loaded code.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "cases.hpp"
#include "sides.hpp"

namespace comparison {

enum class Side { Tapegrad, Reference };
std::string to_string(Side side);

struct PeakMemory {
  double peak_mb = 0;  // peak RSS above base_mb
  double base_mb = 0;  // RSS before the case: the process with tapegrad and libtorch loaded
};

// In this process; prints {"peak_mb": ..., "base_mb": ...} on stdout for the parent.
PeakMemory measure_peak_here(const Case& c, Side side, int threads, ReferenceThreads reference,
                             int steps);
void print_peak(const PeakMemory& peak);

// Runs `executable --peak-only ...` and reads its answer; nullopt (and a message on stderr) if
// the child fails.
std::optional<PeakMemory> measure_peak_in_child(const std::filesystem::path& executable,
                                                const Case& c, Side side, int threads,
                                                ReferenceThreads reference);

}  // namespace comparison
