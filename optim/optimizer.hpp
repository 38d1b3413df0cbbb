// Optimizer: the base of every update rule. It holds the parameters in groups, each group with its
// own learning rate and weight decay (so schedules can change lr and biases can skip decay), and
// per-parameter state (a step count and named buffers such as "exp_avg"), which it saves and
// restores for exact-resume checkpoints. Parameters are plain Tensors: optim/ knows no module.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "autograd/tensor.hpp"

namespace tapegrad::optim {

// Parameters that share a learning rate and a weight decay.
struct ParamGroup {
  std::vector<Tensor> params;
  double lr;
  double weight_decay;
};

// A group as given to a constructor: what it leaves unset comes from the optimizer's options.
// `Adam({{.params = weights}, {.params = biases, .weight_decay = 0.0}}, {.lr = 1e-3})`
struct ParamGroupOptions {
  std::vector<Tensor> params;
  std::optional<double> lr = std::nullopt;
  std::optional<double> weight_decay = std::nullopt;
};

// What an optimizer needs to continue exactly where it stopped.
struct OptimizerStateDict {
  // "state.<i>.<buffer>", i the parameter's index counted across the groups in order.
  std::map<std::string, Tensor> tensors;
  // {"optimizer", "options", "param_groups": [{"lr", "weight_decay", "params": [i...]}],
  //  "state": {"<i>": {"step"}}}
  nlohmann::json scalars;
};

// One parameter's state: how many updates it has had and its buffers by name.
struct ParamState {
  int64_t step = 0;
  std::map<std::string, Tensor, std::less<>> buffers;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient; parameters without one are left alone.
  // An Error when not one has a gradient (no backward() yet, or tensors that are not the ones
  // the loss was computed from).
  virtual void step() = 0;
  // Clears every parameter's gradient (PyTorch's zero_grad(set_to_none=True)).
  void zero_grad();

  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  // "optim.AdamW" and so on: the prefix of this optimizer's error messages.
  const std::string& name() const { return name_; }

  // Copies of the state (later steps do not change them) and the scalars to restore it.
  OptimizerStateDict state_dict() const;
  // Restores a state_dict of an optimizer of the same kind over parameters of the same shapes,
  // options included: the next step() is bit-identical to the saved optimizer's next step().
  void load_state_dict(const OptimizerStateDict& state);

 protected:
  // Checks that every parameter is a floating leaf, appears once, and that lr >= 0 and
  // weight_decay >= 0 in every group.
  Optimizer(std::string name, const std::vector<ParamGroupOptions>& groups, double default_lr,
            double default_weight_decay);

  // Calls update(group, param, grad, state) under NoGradGuard for each parameter with a gradient,
  // after checking the gradient's shape and dtype; grad is contiguous, state.step not yet advanced.
  // Each update is counted in the parameter's version().
  // An Error, before any update, when not one parameter has a gradient.
  using Update = std::function<void(const ParamGroup& group, const Tensor& param,
                                    const Tensor& grad, ParamState& state)>;
  void for_each_gradient(const Update& update);
  // The buffer `name` of a parameter's state, created as zeros shaped like `param` if missing,
  // converted to `param`'s dtype if the parameter has changed dtype since (Module::to).
  static Tensor buffer(ParamState& state, std::string_view name, const Tensor& param);

  // The options as JSON, and setting them from JSON (checked as the constructor checks them).
  virtual nlohmann::json options_json() const = 0;
  virtual void load_options_json(const nlohmann::json& options) = 0;

 private:
  void restore(const OptimizerStateDict& state);  // load_state_dict, JSON errors unwrapped

  std::string name_;
  std::vector<ParamGroup> groups_;
  std::vector<ParamState> states_;  // one per parameter, in group order
};

// The single group of a flat list of parameters, taking the optimizer's defaults.
std::vector<ParamGroupOptions> one_group(std::vector<Tensor> params);

}  // namespace tapegrad::optim
