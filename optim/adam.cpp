#include "optim/adam.hpp"

#include <cmath>

#include "autograd/kernels/functors.hpp"
#include "autograd/kernels/map.hpp"

namespace tapegrad::optim {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(AdamOptions, lr, betas, eps, weight_decay, amsgrad)

namespace {

AdamOptions checked(std::string_view name, const AdamOptions& options) {
  const auto [beta1, beta2] = options.betas;
  if (!(beta1 >= 0 && beta1 < 1)) fail("{}: betas.first must be in [0, 1), got {}", name, beta1);
  if (!(beta2 >= 0 && beta2 < 1)) fail("{}: betas.second must be in [0, 1), got {}", name, beta2);
  if (!(options.eps >= 0)) fail("{}: eps must be >= 0, got {}", name, options.eps);
  return options;
}

AdamOptions as_adam_options(const AdamWOptions& options) {
  return {.lr = options.lr,
          .betas = options.betas,
          .eps = options.eps,
          .weight_decay = options.weight_decay,
          .amsgrad = options.amsgrad};
}

// The scalars of one Adam step, in double, for the update rule in adam.hpp.
struct AdamStep {
  double beta1, beta2, eps;
  double decay_factor;           // 1 - lr·wd (AdamW), else 1
  double l2;                     // wd (Adam), else 0
  double step_size;              // lr / (1 - β1^t)
  double bias_correction2_sqrt;  // √(1 - β2^t)
};

// One pass over n elements reading p, g, m, v (and v̂ with amsgrad) once, shared among threads
// (elementwise: the same result on any thread count); max_exp_avg_sq is null without amsgrad.
template <class T>
void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n,
                 const AdamStep& s) {
  using kernels::load_lane, kernels::store_lane;
  kernels::parallel_for_each_lane<T>(n, [&]<class V>(kernels::Lane<V>, int64_t i) {
    const V p = load_lane<V>(param + i) * V(T(s.decay_factor));  // p·(1 - lr·wd)
    const V g = load_lane<V>(grad + i) + V(T(s.l2)) * p;         // g + wd·p
    const V m = V(T(s.beta1)) * load_lane<V>(exp_avg + i) + V(T(1 - s.beta1)) * g;   // m
    V v = V(T(s.beta2)) * load_lane<V>(exp_avg_sq + i) + V(T(1 - s.beta2)) * g * g;  // v
    store_lane(exp_avg + i, m);
    store_lane(exp_avg_sq + i, v);
    if (max_exp_avg_sq) {
      v = kernels::Maximum{}(load_lane<V>(max_exp_avg_sq + i), v);  // v̂ = max(v̂, v)
      store_lane(max_exp_avg_sq + i, v);
    }
    // p - step_size · m / (√v̂/√(1 - β2^t) + ε)
    const V denom = xsimd::sqrt(v) / V(T(s.bias_correction2_sqrt)) + V(T(s.eps));
    store_lane(param + i, p - V(T(s.step_size)) * (m / denom));
  });
}

}  // namespace

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Adam(one_group(std::move(params)), options) {}

Adam::Adam(const std::vector<ParamGroupOptions>& groups, AdamOptions options)
    : Adam("optim.Adam", groups, options, /*decoupled_weight_decay=*/false) {}

Adam::Adam(std::string name, const std::vector<ParamGroupOptions>& groups, AdamOptions options,
           bool decoupled_weight_decay)
    : Optimizer(name, groups, options.lr, options.weight_decay),
      options_(checked(name, options)),
      decoupled_weight_decay_(decoupled_weight_decay) {}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options)
    : AdamW(one_group(std::move(params)), options) {}

AdamW::AdamW(const std::vector<ParamGroupOptions>& groups, AdamWOptions options)
    : Adam("optim.AdamW", groups, as_adam_options(options), /*decoupled_weight_decay=*/true) {}

void Adam::step() {
  for_each_gradient([&](const ParamGroup& group, const Tensor& param, const Tensor& grad,
                        ParamState& state) {
    const Tensor exp_avg = buffer(state, "exp_avg", param);
    const Tensor exp_avg_sq = buffer(state, "exp_avg_sq", param);
    const Tensor max_exp_avg_sq =
        options_.amsgrad ? buffer(state, "max_exp_avg_sq", param) : Tensor();
    const double t = static_cast<double>(++state.step);
    const auto [beta1, beta2] = options_.betas;
    const AdamStep s{
        .beta1 = beta1,
        .beta2 = beta2,
        .eps = options_.eps,
        .decay_factor = decoupled_weight_decay_ ? 1 - group.lr * group.weight_decay : 1.0,
        .l2 = decoupled_weight_decay_ ? 0.0 : group.weight_decay,
        .step_size = group.lr / (1 - std::pow(beta1, t)),
        .bias_correction2_sqrt = std::sqrt(1 - std::pow(beta2, t)),
    };
    dispatch_floating(param.dtype(), name(), [&]<class T>() {
      adam_update(param.data<T>(), grad.data<T>(), exp_avg.data<T>(), exp_avg_sq.data<T>(),
                  max_exp_avg_sq.defined() ? max_exp_avg_sq.data<T>() : nullptr, param.numel(), s);
    });
  });
}

nlohmann::json Adam::options_json() const { return options_; }

void Adam::load_options_json(const nlohmann::json& options) {
  options_ = checked(name(), options.get<AdamOptions>());
}

}  // namespace tapegrad::optim
