// Loss modules over the functions of autograd/ops/loss.hpp, with the same options and PyTorch's
// defaults (reduction Mean). Class weights and pos_weight are registered as buffers, so to()
// converts them with the model.
//   CrossEntropyLoss criterion({.label_smoothing = 0.1});
//   Tensor loss = criterion(logits [N, C], target int64 [N]);
#pragma once

#include "autograd/ops/loss.hpp"
#include "nn/module.hpp"

namespace tapegrad::nn {

class CrossEntropyLoss : public CallableModule<CrossEntropyLoss> {
 public:
  explicit CrossEntropyLoss(CrossEntropyOptions options = {});

  Tensor forward(const Tensor& logits, const Tensor& target);

  CrossEntropyOptions options;
};

class BCEWithLogitsLoss : public CallableModule<BCEWithLogitsLoss> {
 public:
  explicit BCEWithLogitsLoss(BCEWithLogitsOptions options = {});

  Tensor forward(const Tensor& logits, const Tensor& targets);

  BCEWithLogitsOptions options;
};

struct MSELossOptions {
  Reduction reduction = Reduction::Mean;
};

class MSELoss : public CallableModule<MSELoss> {
 public:
  explicit MSELoss(MSELossOptions options = {});

  Tensor forward(const Tensor& input, const Tensor& target);

  MSELossOptions options;
};

}  // namespace tapegrad::nn
