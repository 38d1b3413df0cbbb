#include "nn/attention.hpp"

#include <cmath>
#include <limits>

#include "autograd/ops/compare.hpp"
#include "autograd/ops/dropout.hpp"
#include "autograd/ops/elementwise.hpp"
#include "autograd/ops/fused_attention.hpp"
#include "autograd/ops/matmul.hpp"
#include "autograd/ops/select.hpp"
#include "autograd/ops/shape_ops.hpp"
#include "autograd/ops/softmax.hpp"
#include "nn/mask.hpp"

namespace tapegrad::nn {
namespace {

constexpr std::string_view kOp = "nn.scaled_dot_product_attention";

void check_inputs(const Tensor& q, const Tensor& k, const Tensor& v) {
  if (q.dim() < 2 || k.dim() < 2 || v.dim() < 2)
    fail("{}: q {}, k {} and v {} need 2 dims at least ([..., T, d])", kOp, q.shape(), k.shape(),
         v.shape());
  if (q.size(-1) != k.size(-1))
    fail("{}: q {} and k {} last dims differ ({} != {})", kOp, q.shape(), k.shape(), q.size(-1),
         k.size(-1));
  if (k.size(-2) != v.size(-2))
    fail("{}: k {} and v {} have different numbers of keys ({} != {})", kOp, k.shape(), v.shape(),
         k.size(-2), v.size(-2));
}

// The mask must be bool and broadcast to the scores' shape [..., Tq, Tk].
void check_mask(const Tensor& mask, const Shape& scores_shape) {
  if (mask.dtype() != kBool)
    fail("{}: the mask must be bool (true = may attend), got {} of shape {}", kOp, mask.dtype(),
         mask.shape());
  bool broadcasts = mask.dim() <= static_cast<int64_t>(scores_shape.size());
  for (int64_t i = 1; broadcasts && i <= mask.dim(); ++i) {
    const int64_t size = mask.size(-i), target = scores_shape[scores_shape.size() - i];
    broadcasts = size == target || size == 1;
  }
  if (!broadcasts)
    fail("{}: mask of shape {} does not broadcast to the scores' shape {} ([..., Tq, Tk])", kOp,
         mask.shape(), scores_shape);
}

// x broadcast to [..., rows, cols] with leading dims `lead`, as the [B, H, rows, cols] that
// fused_attention takes: a view for up to two leading dims ([] -> [1, 1], [X] -> [X, 1], [A, C]
// as they are), a copy for more (all but the last folded into B).
Tensor as_heads(const Tensor& x, const Shape& lead, int64_t rows, int64_t cols) {
  Shape full = lead;
  full.push_back(rows);
  full.push_back(cols);
  const Tensor expanded = x.shape() == full ? x : expand(x, full);
  switch (lead.size()) {
    case 0:
      return expanded.unsqueeze(0).unsqueeze(0);
    case 1:
      return expanded.unsqueeze(1);
    case 2:
      return expanded;
    default:
      return reshape(expanded, {numel(lead) / lead.back(), lead.back(), rows, cols});
  }
}

// The fused path: the same result as the plain one, without the [..., Tq, Tk] weights.
Tensor fused_scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                          const Shape& scores_shape,
                                          const ScaledDotProductAttentionOptions& options) {
  const Shape lead = broadcast_shapes(Shape(scores_shape.begin(), scores_shape.end() - 2),
                                      Shape(v.shape().begin(), v.shape().end() - 2), kOp);
  const int64_t Tq = q.size(-2), Tk = k.size(-2), d = q.size(-1), dv = v.size(-1);
  FusedAttentionOptions fused = fused_attention_options(options);
  if (fused.mask.defined()) fused.mask = as_heads(fused.mask, lead, Tq, Tk);
  const Tensor out = fused_attention(as_heads(q, lead, Tq, d), as_heads(k, lead, Tk, d),
                                     as_heads(v, lead, Tk, dv), fused);  // [B, H, Tq, dv]
  if (lead.size() == 2) return out;
  Shape shape = lead;
  shape.push_back(Tq);
  shape.push_back(dv);
  return reshape(out, shape);  // a view for fewer leading dims
}

}  // namespace

FusedAttentionOptions fused_attention_options(const ScaledDotProductAttentionOptions& options) {
  const double p = options.training ? options.dropout_p : 0.0;
  return {.mask = options.mask,
          .is_causal = options.is_causal,
          .window = options.window,
          .scale = options.scale,
          .dropout_p = p,
          .dropout_seed = p > 0 ? default_generator().next_u64() : 0};
}

AttentionOutput scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const ScaledDotProductAttentionOptions& options) {
  check_inputs(q, k, v);
  const int64_t Tq = q.size(-2), Tk = k.size(-2);
  Shape scores_shape = broadcast_shapes(Shape(q.shape().begin(), q.shape().end() - 2),
                                        Shape(k.shape().begin(), k.shape().end() - 2), kOp);
  scores_shape.push_back(Tq);
  scores_shape.push_back(Tk);
  if (options.mask.defined()) check_mask(options.mask, scores_shape);
  if (options.window < 0)
    fail("{}: window {} is negative (0 for none, W > 0 for the W latest keys)", kOp,
         options.window);
  if (!options.need_weights)
    return {fused_scaled_dot_product_attention(q, k, v, scores_shape, options), Tensor()};

  const double scale = options.scale.value_or(1.0 / std::sqrt(static_cast<double>(q.size(-1))));
  Tensor scores = matmul(q, transpose(k, -2, -1)) * scale;  // [..., Tq, Tk]
  Tensor allowed = options.mask;
  if (options.is_causal || options.window > 0) {
    // [Tq, Tk]; the window's band lies inside the causal triangle
    const Tensor band =
        options.window > 0 ? window_mask(Tq, Tk, options.window) : causal_mask(Tq, Tk);
    allowed = allowed.defined() ? allowed && band : band;
  }
  if (allowed.defined())
    scores = masked_fill(scores, !allowed, -std::numeric_limits<double>::infinity());

  // A row of -inf (no key allowed) gives zero weights: see softmax.hpp.
  Tensor weights = softmax(scores, -1);  // [..., Tq, Tk]
  weights = dropout(weights, options.dropout_p, options.training);
  // The backward is that of these ops. With P the weights, M the dropout's factors, dO the
  // output's gradient and dX = ∂L/∂X:
  //   matmul          dV = (P ⊙ M)ᵀ dO,  d(P ⊙ M) = dO Vᵀ
  //   dropout         dP = d(P ⊙ M) ⊙ M
  //   softmax         dS = P ⊙ (dP - rowsum(dP ⊙ P))
  //   masked_fill     dS = 0 where masked (P is 0 there already)
  //   matmul, scale   dQ = scale·dS K,  dK = scale·dSᵀ Q
  // the fused kernel's result, with the [..., Tq, Tk] tensors held.
  return {matmul(weights, v), weights};  // [..., Tq, dv], [..., Tq, Tk]
}

ScaledDotProductAttention::ScaledDotProductAttention(double dropout_) : dropout(dropout_) {
  if (!(dropout >= 0 && dropout <= 1))
    fail("nn.ScaledDotProductAttention: dropout {} is not a probability in [0, 1]", dropout);
}

AttentionOutput ScaledDotProductAttention::forward(const Tensor& q, const Tensor& k,
                                                   const Tensor& v,
                                                   const AttentionForwardOptions& options) {
  return scaled_dot_product_attention(q, k, v,
                                      {.mask = options.mask,
                                       .is_causal = options.is_causal,
                                       .window = options.window,
                                       .dropout_p = dropout,
                                       .scale = options.scale,
                                       .need_weights = options.need_weights,
                                       .training = is_training()});
}

}  // namespace tapegrad::nn
