// How much each attention head matters (Michel, Levy & Neubig 2019, "Are Sixteen Heads Really
// Better than One?"): every MultiHeadAttention of a model gets a gate ξ = 1 per head (its
// head_gate, which changes no output), the loss of each batch is differentiated, and
//   I_h = Σ_batches |∂L/∂ξ_h|        (the sum over batches of the paper's reference code;
//                                     batches of one example give the paper's E_x |∂L(x)/∂ξ_h|,
//                                     larger ones let the examples' signs cancel inside |·|)
//   I_h ← I_h / ||I_layer||₂        (normalised within each layer, as that code does by default;
//                                     .normalize_by_layer = false keeps the sums, its
//                                     --dont_normalize_importance_by_layer)
// Heads of low importance are the ones to prune (MultiHeadAttention::prune_heads). Normalised,
// a layer whose heads all matter little gets the same norm as one whose heads all matter much:
// across layers, only the sums compare what losing a head costs (to first order).
//
//   const auto importance = nn::head_importance(model, batches, [&](int64_t batch) {
//     return cross_entropy(model(inputs[batch]), targets[batch]);
//   });
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "nn/multi_head_attention.hpp"

namespace tapegrad::nn {

struct HeadImportance {
  std::string name;               // the module's dotted name, e.g. "encoder.layers.0.self_attn"
  MultiHeadAttention* attention;  // that module
  Tensor importance;              // [num_heads] float64; normalised: its L2 norm is 1 (or all 0)
};

struct HeadImportanceOptions {
  bool normalize_by_layer = true;  // divide each layer's importance by its L2 norm
};

// One entry per MultiHeadAttention of `model`, in the order of its modules. loss(b) computes the
// loss of batch b (0 <= b < batches) with the model. The gates are removed again and the model's
// gradients zeroed at the end. An Error if the model has no MultiHeadAttention or a loss is not a
// scalar.
std::vector<HeadImportance> head_importance(Module& model, int64_t batches,
                                            const std::function<Tensor(int64_t batch)>& loss,
                                            HeadImportanceOptions options = {});

}  // namespace tapegrad::nn
