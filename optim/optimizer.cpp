#include "optim/optimizer.hpp"

#include <algorithm>
#include <set>

#include "autograd/factories.hpp"
#include "autograd/tape.hpp"

namespace tapegrad::optim {

namespace {

void check_hyperparameters(std::string_view optimizer, double lr, double weight_decay) {
  if (!(lr >= 0)) fail("{}: lr must be >= 0, got {}", optimizer, lr);
  if (!(weight_decay >= 0)) fail("{}: weight_decay must be >= 0, got {}", optimizer, weight_decay);
}

// A copy with storage of its own: what state_dict hands out and load_state_dict keeps.
Tensor copy_of(const Tensor& tensor) {
  NoGradGuard no_grad;
  return tensor.detach().clone();
}

}  // namespace

std::vector<ParamGroupOptions> one_group(std::vector<Tensor> params) {
  return {ParamGroupOptions{.params = std::move(params)}};
}

Optimizer::Optimizer(std::string name, const std::vector<ParamGroupOptions>& groups,
                     double default_lr, double default_weight_decay)
    : name_(std::move(name)) {
  std::set<const TensorImpl*> seen;
  for (const ParamGroupOptions& options : groups) {
    ParamGroup group{.params = options.params,
                     .lr = options.lr.value_or(default_lr),
                     .weight_decay = options.weight_decay.value_or(default_weight_decay)};
    check_hyperparameters(name_, group.lr, group.weight_decay);
    for (const Tensor& param : group.params) {
      const std::size_t index = states_.size();
      if (!param.defined()) fail("{}: parameter {} is an undefined tensor", name_, index);
      if (!is_floating(param.dtype()))
        fail("{}: parameter {} is {}, not a floating tensor", name_, index, param.dtype());
      if (!param.is_leaf())
        fail("{}: parameter {} is not a leaf (it was made by '{}'); optimize leaves, or detach()",
             name_, index, param.grad_fn()->op);
      if (!param.is_contiguous())
        fail("{}: parameter {} of shape {} is not contiguous", name_, index, param.shape());
      if (!seen.insert(param.impl()).second)
        fail("{}: parameter {} appears more than once among the parameter groups", name_, index);
      states_.emplace_back();
    }
    groups_.push_back(std::move(group));
  }
  if (states_.empty()) fail("{}: got an empty parameter list", name_);
}

void Optimizer::zero_grad() {
  for (ParamGroup& group : groups_)
    for (Tensor& param : group.params) param.zero_grad();
}

void Optimizer::for_each_gradient(const Update& update) {
  NoGradGuard no_grad;
  const bool any_gradient = std::ranges::any_of(groups_, [](const ParamGroup& group) {
    return std::ranges::any_of(group.params, [](const Tensor& p) { return p.grad().defined(); });
  });
  if (!any_gradient)
    fail(
        "{}: step() found no gradient on any of its {} parameters: call loss.backward() before "
        "step(); if you did, the optimizer holds tensors other than the model's parameters "
        "(e.g. it was built before something replaced them: build it after that, from "
        "model.parameters())",
        name_, states_.size());
  std::size_t index = 0;
  for (const ParamGroup& group : groups_) {
    check_hyperparameters(name_, group.lr, group.weight_decay);
    for (const Tensor& param : group.params) {
      ParamState& state = states_[index];
      const Tensor grad = param.grad();
      if (grad.defined()) {
        if (grad.shape() != param.shape() || grad.dtype() != param.dtype())
          fail("{}: parameter {} of shape {} and dtype {} has a gradient of shape {} and dtype {}",
               name_, index, param.shape(), param.dtype(), grad.shape(), grad.dtype());
        update(group, param, grad.contiguous(), state);
        param.increment_version();
      }
      ++index;
    }
  }
}

Tensor Optimizer::buffer(ParamState& state, std::string_view name, const Tensor& param) {
  const auto found = state.buffers.find(name);
  if (found != state.buffers.end()) {
    if (found->second.dtype() != param.dtype()) found->second = found->second.to(param.dtype());
    return found->second;
  }
  const Tensor zero = zeros(param.shape(), {.dtype = param.dtype()});
  state.buffers.emplace(std::string(name), zero);
  return zero;
}

OptimizerStateDict Optimizer::state_dict() const {
  OptimizerStateDict dict;
  dict.scalars["optimizer"] = name_;
  dict.scalars["options"] = options_json();
  dict.scalars["state"] = nlohmann::json::object();
  std::size_t index = 0;
  for (const ParamGroup& group : groups_) {
    nlohmann::json indices = nlohmann::json::array();
    for (std::size_t k = 0; k < group.params.size(); ++k, ++index) {
      indices.push_back(index);
      const ParamState& state = states_[index];
      if (state.step == 0 && state.buffers.empty()) continue;
      dict.scalars["state"][std::to_string(index)] = {{"step", state.step}};
      for (const auto& [name, tensor] : state.buffers)
        dict.tensors[fmt::format("state.{}.{}", index, name)] = copy_of(tensor);
    }
    dict.scalars["param_groups"].push_back(
        {{"lr", group.lr}, {"weight_decay", group.weight_decay}, {"params", indices}});
  }
  return dict;
}

void Optimizer::load_state_dict(const OptimizerStateDict& dict) {
  try {
    restore(dict);
  } catch (const nlohmann::json::exception& error) {
    fail("{}: the state's scalars are malformed: {}", name_, error.what());
  }
}

void Optimizer::restore(const OptimizerStateDict& dict) {
  const nlohmann::json& scalars = dict.scalars;
  if (scalars.value("optimizer", std::string()) != name_)
    fail("{}: the state is of optimizer '{}'", name_, scalars.value("optimizer", std::string()));
  const nlohmann::json& saved_groups = scalars.at("param_groups");
  if (saved_groups.size() != groups_.size())
    fail("{}: the state has {} parameter groups, this optimizer {}", name_, saved_groups.size(),
         groups_.size());
  for (std::size_t g = 0; g < groups_.size(); ++g)
    if (saved_groups[g].at("params").size() != groups_[g].params.size())
      fail("{}: group {} of the state has {} parameters, this optimizer's {}", name_, g,
           saved_groups[g].at("params").size(), groups_[g].params.size());

  // Build the new state in full before changing anything, so that a bad state changes nothing.
  std::vector<ParamState> states(states_.size());
  std::size_t index = 0;
  for (const ParamGroup& group : groups_) {
    for (const Tensor& param : group.params) {
      const std::string key = std::to_string(index);
      if (scalars.at("state").contains(key))
        states[index].step = scalars.at("state").at(key).at("step").get<int64_t>();
      const std::string prefix = fmt::format("state.{}.", index);
      for (auto it = dict.tensors.lower_bound(prefix);
           it != dict.tensors.end() && it->first.starts_with(prefix); ++it) {
        const Tensor& saved = it->second;
        if (saved.shape() != param.shape() || saved.dtype() != param.dtype())
          fail("{}: state '{}' has shape {} and dtype {}, its parameter shape {} and dtype {}",
               name_, it->first, saved.shape(), saved.dtype(), param.shape(), param.dtype());
        states[index].buffers.emplace(it->first.substr(prefix.size()), copy_of(saved));
      }
      ++index;
    }
  }
  for (std::size_t g = 0; g < groups_.size(); ++g)
    check_hyperparameters(name_, saved_groups[g].at("lr").get<double>(),
                          saved_groups[g].at("weight_decay").get<double>());
  load_options_json(scalars.at("options"));
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    groups_[g].lr = saved_groups[g].at("lr").get<double>();
    groups_[g].weight_decay = saved_groups[g].at("weight_decay").get<double>();
  }
  states_ = std::move(states);
}

}  // namespace tapegrad::optim
