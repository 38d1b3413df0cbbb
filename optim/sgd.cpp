#include "optim/sgd.hpp"

#include "autograd/kernels/simd.hpp"

namespace tapegrad::optim {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SGDOptions, lr, momentum, dampening, weight_decay, nesterov)

namespace {

SGDOptions checked(const SGDOptions& options) {
  if (!(options.momentum >= 0)) fail("optim.SGD: momentum must be >= 0, got {}", options.momentum);
  if (options.nesterov && (options.momentum <= 0 || options.dampening != 0))
    fail(
        "optim.SGD: nesterov needs momentum > 0 and dampening == 0, "
        "got momentum {} and dampening {}",
        options.momentum, options.dampening);
  return options;
}

// One SGD step over n elements (momentum_buffer unused when momentum == 0); see sgd.hpp.
template <class T>
void sgd_update(T* param, const T* grad, T* momentum_buffer, int64_t n, const SGDOptions& options,
                double lr, double weight_decay, bool first_step) {
  using kernels::load_lane, kernels::store_lane;
  kernels::for_each_lane<T>(n, [&]<class V>(kernels::Lane<V>, int64_t i) {
    const V p = load_lane<V>(param + i);
    V d = load_lane<V>(grad + i);
    if (weight_decay != 0) d = d + V(T(weight_decay)) * p;  // d = g + wd·p
    if (options.momentum != 0) {
      // b = d (first step) or momentum·b + (1 - dampening)·d
      const V b = first_step ? d
                             : V(T(options.momentum)) * load_lane<V>(momentum_buffer + i) +
                                   V(T(1 - options.dampening)) * d;
      store_lane(momentum_buffer + i, b);
      d = options.nesterov ? d + V(T(options.momentum)) * b : b;  // d + momentum·b, or b
    }
    store_lane(param + i, p - V(T(lr)) * d);  // p = p - lr·d
  });
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions options)
    : SGD(one_group(std::move(params)), options) {}

SGD::SGD(const std::vector<ParamGroupOptions>& groups, SGDOptions options)
    : Optimizer("optim.SGD", groups, options.lr, options.weight_decay),
      options_(checked(options)) {}

void SGD::step() {
  for_each_gradient(
      [&](const ParamGroup& group, const Tensor& param, const Tensor& grad, ParamState& state) {
        const bool first_step = !state.buffers.contains("momentum_buffer");
        const Tensor momentum_buffer =
            options_.momentum != 0 ? buffer(state, "momentum_buffer", param) : Tensor();
        dispatch_floating(param.dtype(), "optim.SGD", [&]<class T>() {
          sgd_update(param.data<T>(), grad.data<T>(),
                     momentum_buffer.defined() ? momentum_buffer.data<T>() : nullptr, param.numel(),
                     options_, group.lr, group.weight_decay, first_step);
        });
        ++state.step;
      });
}

nlohmann::json SGD::options_json() const { return options_; }

void SGD::load_options_json(const nlohmann::json& options) {
  options_ = checked(options.get<SGDOptions>());
}

}  // namespace tapegrad::optim
