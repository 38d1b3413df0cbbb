// Exercise 4, the reference solution.
#include "exercises/04_adamw/adamw_step.hpp"

#include <cmath>

namespace tapegrad::exercises {

void adamw_step(Tensor& param, AdamWState& state, const optim::AdamWOptions& options) {
  const Tensor g = param.grad();
  if (!g.defined()) fail("adamw_step: the parameter has no gradient: call backward first");
  NoGradGuard no_grad;  // an update is no part of the model: nothing goes on the tape
  const auto [beta1, beta2] = options.betas;
  if (state.step == 0) {
    state.exp_avg = zeros_like(param);
    state.exp_avg_sq = zeros_like(param);
  }
  state.step += 1;
  const double t = static_cast<double>(state.step);
  const Tensor decayed = param.detach() * (1 - options.lr * options.weight_decay);
  state.exp_avg = beta1 * state.exp_avg + (1 - beta1) * g;
  state.exp_avg_sq = beta2 * state.exp_avg_sq + (1 - beta2) * g * g;
  const Tensor m_hat = state.exp_avg / (1 - std::pow(beta1, t));
  const Tensor v_hat = state.exp_avg_sq / (1 - std::pow(beta2, t));
  param.set_data(decayed - options.lr * m_hat / (sqrt(v_hat) + options.eps));
}

}  // namespace tapegrad::exercises
