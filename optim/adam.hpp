// Adam and AdamW, as torch.optim.Adam and torch.optim.AdamW. Per parameter, at step t:
//   p = p·(1 - lr·wd)                 AdamW only: decoupled weight decay
//   g = g + wd·p                      Adam only: L2 weight decay
//   m = β1·m + (1 - β1)·g
//   v = β2·v + (1 - β2)·g²
//   v̂ = max(v̂, v) with amsgrad, else v
//   p = p - lr/(1 - β1^t) · m / (√v̂/√(1 - β2^t) + ε)
// AdamW is Adam with decoupled weight decay (and its default of 1e-2): one implementation.
#pragma once

#include <utility>

#include "optim/optimizer.hpp"

namespace tapegrad::optim {

struct AdamOptions {
  double lr = 1e-3;
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0;  // L2: added to the gradient
  bool amsgrad = false;
};

struct AdamWOptions {
  double lr = 1e-3;
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 1e-2;  // decoupled: p *= 1 - lr·weight_decay before the Adam step
  bool amsgrad = false;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options = {});
  Adam(const std::vector<ParamGroupOptions>& groups, AdamOptions options = {});
  void step() override;
  const AdamOptions& options() const { return options_; }
  bool decoupled_weight_decay() const { return decoupled_weight_decay_; }

 protected:
  Adam(std::string name, const std::vector<ParamGroupOptions>& groups, AdamOptions options,
       bool decoupled_weight_decay);
  nlohmann::json options_json() const override;
  void load_options_json(const nlohmann::json& options) override;

 private:
  AdamOptions options_;
  const bool decoupled_weight_decay_;
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions options = {});
  AdamW(const std::vector<ParamGroupOptions>& groups, AdamWOptions options = {});
};

}  // namespace tapegrad::optim
