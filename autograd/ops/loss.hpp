// Losses, with PyTorch's definitions and defaults (reduction Mean):
//   cross_entropy(logits [N, C] or [N, C, d...], target int64 [N] or [N, d...])
//     per target: (1-ε)·w[y]·(-log p[y]) + (ε/C)·Σ_c w[c]·(-log p[c]), p = softmax(logits),
//     ε = label_smoothing, w the class weights (all 1 when undefined); 0 for ignore_index.
//     Mean divides the sum by Σ w[y] over the targets that are not ignored (NaN when every
//     target is ignored, as PyTorch; the gradient is then zero). Mean over an empty batch (no
//     targets at all) is an Error rather than PyTorch's NaN: it is always a bug upstream.
//   binary_cross_entropy_with_logits(x, t): max(x,0) - x·t + log(1+exp(-|x|)), and with
//     pos_weight p: (1-t)·x + (1+(p-1)·t)·(log(1+exp(-|x|)) + max(-x,0)).
//   mse_loss(a, b): (a - b)², a and b broadcast.
#pragma once

#include "autograd/tensor.hpp"

namespace tapegrad {

enum class Reduction { None, Mean, Sum };

struct CrossEntropyOptions {
  Tensor weight = {};  // [C] class weights, optional; no gradient
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
  Reduction reduction = Reduction::Mean;
};

struct BCEWithLogitsOptions {
  // Weight of the positive term, broadcast to the logits (e.g. [C]); optional, no gradient.
  Tensor pos_weight = {};
  Reduction reduction = Reduction::Mean;
};

Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     const CrossEntropyOptions& options = {});
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets,
                                        const BCEWithLogitsOptions& options = {});
Tensor mse_loss(const Tensor& a, const Tensor& b, Reduction reduction = Reduction::Mean);

}  // namespace tapegrad
