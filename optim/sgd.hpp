// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay,
// as torch.optim.SGD:
//   d = g + weight_decay·p
//   b = d on the first step, else momentum·b + (1 - dampening)·d   (when momentum != 0)
//   d = d + momentum·b if nesterov, else b                        (when momentum != 0)
//   p = p - lr·d
#pragma once

#include "optim/optimizer.hpp"

namespace tapegrad::optim {

struct SGDOptions {
  double lr = 1e-3;  // PyTorch also defaults to 1e-3, but pick one for the problem
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;  // needs momentum > 0 and dampening == 0
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options = {});
  SGD(const std::vector<ParamGroupOptions>& groups, SGDOptions options = {});
  void step() override;
  const SGDOptions& options() const { return options_; }

 protected:
  nlohmann::json options_json() const override;
  void load_options_json(const nlohmann::json& options) override;

 private:
  SGDOptions options_;
};

}  // namespace tapegrad::optim
