#include "harness.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

namespace comparison {
namespace {

double time_step_ms(Runner& runner, double gap_ms) {
  if (gap_ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(gap_ms));
  const auto start = std::chrono::steady_clock::now();
  runner.step();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// How many steps of `step_ms` fit in `share` of the budget, within [low, high].
int steps_within(const StepPlan& plan, double share, double step_ms, int low, int high) {
  const double fit = std::floor(share * plan.budget_s * 1e3 / std::max(step_ms, 1e-3));
  return std::clamp(static_cast<int>(std::min(fit, 1e6)), low, std::max(low, high));
}

}  // namespace

double median(std::vector<double> values) {
  if (values.empty()) return NAN;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
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
  double round_ms = 0;
  for (const ReferenceThreads& candidate : candidates) {
    use_reference_threads(candidate);
    round_ms += time_step_ms(reference, plan.gap_ms);
  }
  // A fifth of the budget at most, but one measured round at least.
  const int rounds = steps_within(plan, 0.2, round_ms, 1, plan.calibration_steps);
  std::vector<std::vector<double>> samples(candidates.size());
  for (int round = 0; round < rounds; ++round) {
    for (size_t i = 0; i < candidates.size(); ++i) {
      use_reference_threads(candidates[i]);
      samples[i].push_back(time_step_ms(reference, plan.gap_ms));
    }
  }
  std::vector<Arrangement> result;
  for (size_t i = 0; i < candidates.size(); ++i)
    result.push_back({candidates[i], median(samples[i])});
  std::stable_sort(result.begin(), result.end(), [](const Arrangement& a, const Arrangement& b) {
    return a.median_ms < b.median_ms;
  });
  return result;
}

Timing time_interleaved(Runner& tapegrad, Runner& reference, int threads,
                        ReferenceThreads reference_threads, const StepPlan& plan) {
  Timing timing;
  bool tapegrad_first = true;
  const auto round = [&] {
    double tapegrad_ms = 0, reference_ms = 0;
    const auto step_tapegrad = [&] {
      use_tapegrad_threads(threads);
      tapegrad_ms = time_step_ms(tapegrad, plan.gap_ms);
    };
    const auto step_reference = [&] {
      use_reference_threads(reference_threads);
      reference_ms = time_step_ms(reference, plan.gap_ms);
    };
    if (tapegrad_first) {
      step_tapegrad();
      step_reference();
    } else {
      step_reference();
      step_tapegrad();
    }
    tapegrad_first = !tapegrad_first;
    return std::pair{tapegrad_ms, reference_ms};
  };

  // The first warm-up round sizes the rest: warm-up takes a tenth of the budget at most.
  const auto [first_tapegrad, first_reference] = round();
  const double round_ms = first_tapegrad + first_reference;
  timing.warmup = std::min(plan.warmup, steps_within(plan, 0.1, round_ms, 1, plan.warmup));
  for (int i = 1; i < timing.warmup; ++i) round();
  const int steps = steps_within(plan, 0.7, round_ms, plan.min_steps, plan.steps);
  for (int i = 0; i < steps; ++i) {
    const auto [tapegrad_ms, reference_ms] = round();
    timing.tapegrad_ms.push_back(tapegrad_ms);
    timing.reference_ms.push_back(reference_ms);
  }
  return timing;
}

}  // namespace comparison
