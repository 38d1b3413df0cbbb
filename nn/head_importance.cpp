#include "nn/head_importance.hpp"

#include <cmath>

#include "autograd/factories.hpp"
#include "autograd/ops/elementwise.hpp"
#include "autograd/ops/reduce.hpp"
#include "autograd/ops/unary.hpp"
#include "autograd/tape.hpp"

namespace tapegrad::nn {
namespace {

void find_attention(Module& module, const std::string& name, std::vector<HeadImportance>& found) {
  if (auto* attention = dynamic_cast<MultiHeadAttention*>(&module))
    found.push_back({name, attention, Tensor()});
  for (const auto& [child_name, child] : module.named_children())
    find_attention(*child, name.empty() ? child_name : name + "." + child_name, found);
}

// Takes the gates off again however head_importance ends.
struct GatesOff {
  std::vector<HeadImportance>& heads;
  ~GatesOff() {
    for (HeadImportance& head : heads) head.attention->head_gate = Tensor();
  }
};

}  // namespace

std::vector<HeadImportance> head_importance(Module& model, int64_t batches,
                                            const std::function<Tensor(int64_t batch)>& loss,
                                            HeadImportanceOptions options) {
  if (batches <= 0) fail("head_importance: batches must be positive, got {}", batches);
  std::vector<HeadImportance> heads;
  find_attention(model, "", heads);
  if (heads.empty()) fail("head_importance: the model has no MultiHeadAttention");
  const GatesOff gates_off{heads};
  for (HeadImportance& head : heads) {
    const int64_t H = head.attention->num_heads;
    head.attention->head_gate =
        ones({H}, {.dtype = head.attention->out_proj.weight.dtype(), .requires_grad = true});
    head.importance = zeros({H}, {.dtype = kFloat64});
  }
  for (int64_t batch = 0; batch < batches; ++batch) {
    for (HeadImportance& head : heads) head.attention->head_gate.zero_grad();
    const Tensor value = loss(batch);
    if (value.numel() != 1)
      fail("head_importance: loss({}) has shape {}; it must be a scalar", batch, value.shape());
    value.backward();
    const NoGradGuard no_grad;
    for (HeadImportance& head : heads)
      if (const Tensor& grad = head.attention->head_gate.grad(); grad.defined())
        head.importance = head.importance + abs(grad.to(kFloat64));
  }
  model.zero_grad();
  if (!options.normalize_by_layer) return heads;
  for (HeadImportance& head : heads) {
    const double norm = std::sqrt(sum(head.importance * head.importance).item());
    head.importance = head.importance / (norm + 1e-20);
  }
  return heads;
}

}  // namespace tapegrad::nn
