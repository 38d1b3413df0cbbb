#include "nn/loss.hpp"

#include <utility>

namespace tapegrad::nn {

CrossEntropyLoss::CrossEntropyLoss(CrossEntropyOptions options_) : options(std::move(options_)) {
  if (options.weight.defined()) register_buffer("weight", options.weight);
}

Tensor CrossEntropyLoss::forward(const Tensor& logits, const Tensor& target) {
  return cross_entropy(logits, target, options);
}

BCEWithLogitsLoss::BCEWithLogitsLoss(BCEWithLogitsOptions options_) : options(std::move(options_)) {
  if (options.pos_weight.defined()) register_buffer("pos_weight", options.pos_weight);
}

Tensor BCEWithLogitsLoss::forward(const Tensor& logits, const Tensor& targets) {
  return binary_cross_entropy_with_logits(logits, targets, options);
}

MSELoss::MSELoss(MSELossOptions options_) : options(options_) {}

Tensor MSELoss::forward(const Tensor& input, const Tensor& target) {
  return mse_loss(input, target, options.reduction);
}

}  // namespace tapegrad::nn
