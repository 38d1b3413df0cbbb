#include "harness.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <thread>

namespace comparison {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double timed_step(Runner& runner) {
  const auto start = Clock::now();
  runner.step();
  return ms_since(start);
}

// Untimed steps until settle_ms have passed, or a sleep if one step takes longer than that.
void settle(Runner& runner, double step_ms, double settle_ms) {
  if (step_ms >= settle_ms) {
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(settle_ms));
    return;
  }
  const auto start = Clock::now();
  while (ms_since(start) < settle_ms) runner.step();
}

// How many steps of `round_ms` fit in `share` of the budget, within [low, high].
int fitting(const StepPlan& plan, double share, double round_ms, int low, int high) {
  const double fit = std::floor(share * plan.budget_s * 1e3 / std::max(round_ms, 1e-3));
  return std::clamp(static_cast<int>(std::min(fit, 1e6)), std::min(low, high), high);
}

}  // namespace

double median(std::vector<double> values) {
  if (values.empty()) return NAN;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

Timing time_in_turn(const std::vector<Contender>& contenders, const StepPlan& plan,
                    const Turns& turns) {
  const size_t n = contenders.size();
  Timing timing;
  timing.ms.resize(n);
  // Warm-up, each contender in turn; the fastest warm-up step of each sizes the rest.
  std::vector<double> step_ms(n);
  for (size_t i = 0; i < n; ++i) {
    contenders[i].use_threads();
    step_ms[i] = timed_step(*contenders[i].runner);
  }
  const auto round_ms = [&] { return std::accumulate(step_ms.begin(), step_ms.end(), 0.0); };
  timing.warmup = fitting(plan, 0.1 * turns.budget_share, round_ms(), 1, turns.warmup);
  for (size_t i = 0; i < n; ++i) {
    contenders[i].use_threads();
    for (int w = 1; w < timing.warmup; ++w)
      step_ms[i] = std::min(step_ms[i], timed_step(*contenders[i].runner));
  }
  timing.steps = fitting(plan, 0.8 * turns.budget_share, round_ms(), turns.min_steps, turns.steps);

  // Blocks of at most block_ms, and at least 4 rounds if there are steps enough.
  const double slowest_ms = *std::max_element(step_ms.begin(), step_ms.end());
  const int per_block = std::clamp(static_cast<int>(plan.block_ms / std::max(slowest_ms, 1e-3)), 1,
                                   std::max(1, (timing.steps + 3) / 4));
  for (size_t round = 0; static_cast<int>(timing.ms[0].size()) < timing.steps; ++round) {
    for (size_t j = 0; j < n; ++j) {
      const size_t i = (round + j) % n;
      contenders[i].use_threads();
      settle(*contenders[i].runner, step_ms[i], plan.settle_ms);
      const int block = std::min(per_block, timing.steps - static_cast<int>(timing.ms[i].size()));
      for (int k = 0; k < block; ++k) timing.ms[i].push_back(timed_step(*contenders[i].runner));
    }
  }
  return timing;
}

std::vector<ReferenceThreads> arrangements(const Case& c, int threads) {
  if (c.kind == Kind::Gemm) return {{.intra_op = 1, .blas = threads}};
  if (threads == 1) return {{.intra_op = 1, .blas = 1}};
  return {{.intra_op = threads, .blas = threads},
          {.intra_op = threads, .blas = 1},
          {.intra_op = 1, .blas = threads}};
}

std::vector<Arrangement> calibrate(Runner& reference, const Case& c, int threads,
                                   const StepPlan& plan) {
  const std::vector<ReferenceThreads> candidates = arrangements(c, threads);
  std::vector<Contender> contenders;
  for (const ReferenceThreads& candidate : candidates)
    contenders.push_back({&reference, [candidate] { use_reference_threads(candidate); }});
  const Timing timing = time_in_turn(
      contenders, plan,
      {.steps = plan.calibration_steps, .min_steps = 1, .warmup = 1, .budget_share = 0.25});
  std::vector<Arrangement> result;
  for (size_t i = 0; i < candidates.size(); ++i)
    result.push_back({candidates[i], median(timing.ms[i])});
  std::stable_sort(result.begin(), result.end(), [](const Arrangement& a, const Arrangement& b) {
    return a.median_ms < b.median_ms;
  });
  return result;
}

}  // namespace comparison
