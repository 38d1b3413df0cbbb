// Timing contenders (tapegrad and the reference, or the reference under several thread
// arrangements) in one process, in turn, so that machine noise hits all of them.
//
// Taking turns step by step is not enough here: a pool that has just worked keeps its threads
// spinning for a while (OpenBLAS's workers ~0.1 s: 2^28 TSC cycles, yielding; libgomp's a few
// ms), and a step timed right after another contender's would share its cores with them (measured
// on this 2-core machine: OpenBLAS's 4096x256x256 sgemm 4.2 ms after a tapegrad GEMM instead of
// 1.9 ms). Sleeping them away is no better: on this VM, waking an idle core costs milliseconds.
// So each contender gets blocks: first it "settles" (untimed steps of its own until settle_ms
// have passed, or a sleep of settle_ms if one step takes longer), then it takes its timed steps;
// the blocks go round the contenders, the order turning each round.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cases.hpp"
#include "sides.hpp"

namespace comparison {

struct StepPlan {
  int steps = 20;          // timed steps per contender (fewer when the budget says so)
  int warmup = 5;          // untimed steps per contender first
  int min_steps = 5;       // never fewer timed steps than this, whatever the budget
  double budget_s = 60;    // soft limit per case and thread count (calibration included)
  double settle_ms = 150;  // before each block, see above
  double block_ms = 1000;  // the longest block of timed steps: at least 4 rounds, if steps allow
  int calibration_steps = 3;
};

struct Contender {
  Runner* runner;
  std::function<void()> use_threads;  // before each of its blocks
};

struct Timing {
  std::vector<std::vector<double>> ms;  // per contender, its timed steps
  int warmup = 0;                       // untimed steps per contender before them
  int steps = 0;                        // timed steps per contender
};

// How many steps one call of time_in_turn takes per contender: `steps` at most, cut down to
// `min_steps` if they would not fit in `budget_share` of plan.budget_s.
struct Turns {
  int steps, min_steps, warmup;
  double budget_share;
};
Timing time_in_turn(const std::vector<Contender>& contenders, const StepPlan& plan,
                    const Turns& turns);

// The reference's thread arrangements at `threads`: both pools at `threads`, or one of them at 1
// (one arrangement for a single thread, and for GEMM, where cblas_sgemm runs alone).
std::vector<ReferenceThreads> arrangements(const Case& c, int threads);

struct Arrangement {
  ReferenceThreads threads;
  double median_ms;
};
// The reference under each arrangement, in turn; the medians, fastest first.
std::vector<Arrangement> calibrate(Runner& reference, const Case& c, int threads,
                                   const StepPlan& plan);

double median(std::vector<double> values);

}  // namespace comparison
