// Timing both sides of a case in one process, step by step in turn (so that machine noise hits
// both), and the reference's thread arrangements tried before that.
#pragma once

#include <vector>

#include "cases.hpp"
#include "sides.hpp"

namespace comparison {

struct StepPlan {
  int steps = 20;        // measured steps per side (fewer when the budget says so)
  int warmup = 5;        // unmeasured steps per side first
  int min_steps = 5;     // never fewer measured steps than this, whatever the budget
  double budget_s = 60;  // soft limit per case and thread count, both sides and calibration
  double gap_ms = 0;     // sleep between steps, so that one side's spinning pool has gone idle
  int calibration_steps = 3;
};

struct Arrangement {
  ReferenceThreads threads;
  double median_ms;
};

// The reference alone under each arrangement of `threads` (both pools at `threads`, one of them
// at 1), round-robin, after one warm-up step each: the medians, fastest first.
std::vector<Arrangement> calibrate(Runner& reference, const Case& c, int threads,
                                   const StepPlan& plan);

// The arrangements to try at `threads`: one for a single thread or for GEMM (cblas_sgemm alone).
std::vector<ReferenceThreads> arrangements(const Case& c, int threads);

struct Timing {
  std::vector<double> tapegrad_ms, reference_ms;  // measured steps only
  int warmup = 0;
};

// Warm-up, then measured steps; in each round both sides step once, the order alternating.
Timing time_interleaved(Runner& tapegrad, Runner& reference, int threads,
                        ReferenceThreads reference_threads, const StepPlan& plan);

double median(std::vector<double> values);

}  // namespace comparison
