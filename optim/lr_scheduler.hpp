// Learning-rate schedules, as torch.optim.lr_scheduler. A scheduler sets each parameter group's
// lr to a closed form of its step count and the group's base lr (its lr when the scheduler was
// made), so resuming at step k gives exactly the lr of an uninterrupted run. Construction sets the
// lrs of step 0; call step() once after each optimizer.step():
//   optim::StepLR schedule(opt, {.step_size = 30});
//   for (...) { ...; opt.step(); schedule.step(); }
// The optimizer must outlive the scheduler.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

#include "optim/optimizer.hpp"

namespace tapegrad::optim {

class LRScheduler {
 public:
  // lr_at(step, base_lr) -> the lr of a group at that step.
  using Schedule = std::function<double(int64_t step, double base_lr)>;
  LRScheduler(Optimizer& optimizer, Schedule lr_at);

  // Advances the step count by one and sets every group's lr.
  void step();
  int64_t last_step() const { return step_; }
  // The lrs last set, one per group.
  const std::vector<double>& last_lr() const { return last_lr_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }

  // {"last_step", "base_lrs"}; loading sets the groups' lrs of that step.
  nlohmann::json state_dict() const;
  void load_state_dict(const nlohmann::json& state);

 private:
  void set_lrs();

  Optimizer& optimizer_;
  Schedule lr_at_;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;
  int64_t step_ = 0;
};

// lr = base_lr · gamma^⌊step / step_size⌋
struct StepLROptions {
  int64_t step_size = 0;  // required: > 0
  double gamma = 0.1;
};
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, StepLROptions options);
};

// lr = base_lr · (start_factor + (end_factor - start_factor) · s / total_iters),
// with s = min(step, total_iters)
struct LinearLROptions {
  double start_factor = 1.0 / 3;  // in (0, 1]
  double end_factor = 1.0;        // in [0, 1]
  int64_t total_iters = 5;        // > 0
};
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& optimizer, LinearLROptions options = {});
};

// Linear warmup from 0 to base_lr over warmup_steps, then a cosine from base_lr down to
// min = min_lr_ratio · base_lr at total_steps, and min after:
//   step < warmup_steps: lr = base_lr · step / warmup_steps
//   else:                lr = min + (base_lr - min) · (1 + cos(π · t)) / 2,
//                        t = min(1, (step - warmup_steps) / (total_steps - warmup_steps))
// The first optimizer step with warmup runs with lr 0, as Hugging Face's cosine-with-warmup.
struct LinearWarmupCosineOptions {
  int64_t warmup_steps = 0;  // >= 0
  int64_t total_steps = 0;   // required: > warmup_steps
  double min_lr_ratio = 0;   // in [0, 1]
};
class LinearWarmupCosine : public LRScheduler {
 public:
  LinearWarmupCosine(Optimizer& optimizer, LinearWarmupCosineOptions options);
};

// lr = base_lr · lr_lambda(step)
class LambdaLR : public LRScheduler {
 public:
  LambdaLR(Optimizer& optimizer, std::function<double(int64_t step)> lr_lambda);
};

}  // namespace tapegrad::optim
