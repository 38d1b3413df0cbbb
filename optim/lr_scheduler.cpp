#include "optim/lr_scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace tapegrad::optim {

LRScheduler::LRScheduler(Optimizer& optimizer, Schedule lr_at)
    : optimizer_(optimizer), lr_at_(std::move(lr_at)) {
  for (const ParamGroup& group : optimizer_.param_groups()) base_lrs_.push_back(group.lr);
  set_lrs();
}

void LRScheduler::step() {
  ++step_;
  set_lrs();
}

void LRScheduler::set_lrs() {
  std::vector<ParamGroup>& groups = optimizer_.param_groups();
  if (groups.size() != base_lrs_.size())
    fail("optim.LRScheduler: the optimizer has {} parameter groups, the scheduler {}",
         groups.size(), base_lrs_.size());
  last_lr_.clear();
  for (std::size_t g = 0; g < groups.size(); ++g) {
    groups[g].lr = lr_at_(step_, base_lrs_[g]);
    last_lr_.push_back(groups[g].lr);
  }
}

nlohmann::json LRScheduler::state_dict() const {
  return {{"last_step", step_}, {"base_lrs", base_lrs_}};
}

void LRScheduler::load_state_dict(const nlohmann::json& state) {
  int64_t step = 0;
  std::vector<double> base_lrs;
  try {
    step = state.at("last_step").get<int64_t>();
    base_lrs = state.at("base_lrs").get<std::vector<double>>();
  } catch (const nlohmann::json::exception& error) {
    fail("optim.LRScheduler: the state is malformed: {}", error.what());
  }
  if (base_lrs.size() != base_lrs_.size())
    fail("optim.LRScheduler: the state has {} base lrs for {} parameter groups", base_lrs.size(),
         base_lrs_.size());
  step_ = step;
  base_lrs_ = std::move(base_lrs);
  set_lrs();
}

namespace {

StepLROptions checked(const StepLROptions& options) {
  if (options.step_size <= 0)
    fail("optim.StepLR: step_size must be > 0, got {}", options.step_size);
  return options;
}

LinearLROptions checked(const LinearLROptions& options) {
  if (!(options.start_factor > 0 && options.start_factor <= 1))
    fail("optim.LinearLR: start_factor must be in (0, 1], got {}", options.start_factor);
  if (!(options.end_factor >= 0 && options.end_factor <= 1))
    fail("optim.LinearLR: end_factor must be in [0, 1], got {}", options.end_factor);
  if (options.total_iters <= 0)
    fail("optim.LinearLR: total_iters must be > 0, got {}", options.total_iters);
  return options;
}

LinearWarmupCosineOptions checked(const LinearWarmupCosineOptions& options) {
  if (options.warmup_steps < 0)
    fail("optim.LinearWarmupCosine: warmup_steps must be >= 0, got {}", options.warmup_steps);
  if (options.total_steps <= options.warmup_steps)
    fail("optim.LinearWarmupCosine: total_steps ({}) must be > warmup_steps ({})",
         options.total_steps, options.warmup_steps);
  if (!(options.min_lr_ratio >= 0 && options.min_lr_ratio <= 1))
    fail("optim.LinearWarmupCosine: min_lr_ratio must be in [0, 1], got {}", options.min_lr_ratio);
  return options;
}

std::function<double(int64_t)> checked(std::function<double(int64_t)> lr_lambda) {
  if (!lr_lambda) fail("optim.LambdaLR: lr_lambda is empty");
  return lr_lambda;
}

}  // namespace

StepLR::StepLR(Optimizer& optimizer, StepLROptions options)
    : LRScheduler(optimizer, [o = checked(options)](int64_t step, double base_lr) {
        return base_lr * std::pow(o.gamma, static_cast<double>(step / o.step_size));
      }) {}

LinearLR::LinearLR(Optimizer& optimizer, LinearLROptions options)
    : LRScheduler(optimizer, [o = checked(options)](int64_t step, double base_lr) {
        const double progress =
            static_cast<double>(std::min(step, o.total_iters)) / static_cast<double>(o.total_iters);
        return base_lr * (o.start_factor + (o.end_factor - o.start_factor) * progress);
      }) {}

LinearWarmupCosine::LinearWarmupCosine(Optimizer& optimizer, LinearWarmupCosineOptions options)
    : LRScheduler(optimizer, [o = checked(options)](int64_t step, double base_lr) {
        if (step < o.warmup_steps)
          return base_lr * static_cast<double>(step) / static_cast<double>(o.warmup_steps);
        const double progress =
            std::min(1.0, static_cast<double>(step - o.warmup_steps) /
                              static_cast<double>(o.total_steps - o.warmup_steps));
        const double min_lr = o.min_lr_ratio * base_lr;
        return min_lr + (base_lr - min_lr) * (1 + std::cos(std::numbers::pi * progress)) / 2;
      }) {}

LambdaLR::LambdaLR(Optimizer& optimizer, std::function<double(int64_t step)> lr_lambda)
    : LRScheduler(optimizer,
                  [lr_lambda = checked(std::move(lr_lambda))](int64_t step, double base_lr) {
                    return base_lr * lr_lambda(step);
                  }) {}

}  // namespace tapegrad::optim
