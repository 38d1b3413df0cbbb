#include "autograd/ops/fused_attention.hpp"

#include <cmath>
#include <span>
#include <string_view>
#include <utility>

#include "autograd/kernels/flash_attention.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

// Where the backward writes dq, dk, dv, and the gradients it returns (one per op input).
struct Gradients {
  Grads inputs;
  Tensor dq, dk, dv;  // [B, H, T, *] views into `inputs`' memory
};

// A [B, H, T, n] tensor as the kernel reads or writes it.
template <class T>
kernels::HeadsView<T> heads_view(const Tensor& x) {
  return {x.data<std::remove_const_t<T>>(), x.strides()[0], x.strides()[1], x.strides()[2],
          x.strides()[3]};
}

// A new [B, H, T, n] tensor laid out in memory as [B, T, H, n].
Tensor empty_heads(int64_t B, int64_t H, int64_t T, int64_t n, DType dtype) {
  return Tensor::empty({B, T, H, n}, dtype).alias({B, H, T, n}, {T * H * n, n, H * n, 1}, 0);
}

// The mask's strides against [B, H, Tq, Tk], 0 along the dims it broadcasts; an error naming
// `op` if it is not bool or does not broadcast.
Shape mask_strides(std::string_view op, const Tensor& mask, const Shape& scores) {
  if (mask.dtype() != kBool)
    fail("{}: the mask must be bool (true = may attend), got {} of shape {}", op, mask.dtype(),
         mask.shape());
  Shape strides(4, 0);
  bool broadcasts = mask.dim() <= 4;
  for (int64_t i = 1; broadcasts && i <= mask.dim(); ++i) {
    const int64_t size = mask.size(-i), target = scores[4 - i];
    broadcasts = size == target || size == 1;
    if (size == target && size != 1) strides[4 - i] = mask.strides()[mask.dim() - i];
  }
  if (!broadcasts)
    fail("{}: mask of shape {} does not broadcast to the scores' shape {} ([B, H, Tq, Tk])", op,
         mask.shape(), scores);
  return strides;
}

// Checks q [B, H, Tq, d], k [B, H, Tk, d], v [B, H, Tk, dv] and the options; the kernel's problem.
kernels::AttentionProblem problem_of(std::string_view op, const Tensor& q, const Tensor& k,
                                     const Tensor& v, const FusedAttentionOptions& options) {
  if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4)
    fail("{}: q {}, k {} and v {} must be [B, H, T, d]", op, q.shape(), k.shape(), v.shape());
  if (q.dtype() != k.dtype() || k.dtype() != v.dtype() || !is_floating(q.dtype()))
    fail("{}: q, k and v must share one floating dtype, got {}, {} and {}", op, q.dtype(),
         k.dtype(), v.dtype());
  const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), d = q.size(3), Tk = k.size(2);
  if (k.size(0) != B || v.size(0) != B || k.size(1) != H || v.size(1) != H)
    fail("{}: q {}, k {} and v {} disagree on [B, H]", op, q.shape(), k.shape(), v.shape());
  if (k.size(3) != d)
    fail("{}: q {} and k {} last dims differ ({} != {})", op, q.shape(), k.shape(), d, k.size(3));
  if (v.size(2) != Tk)
    fail("{}: k {} and v {} have different numbers of keys ({} != {})", op, k.shape(), v.shape(),
         Tk, v.size(2));
  if (!(options.dropout_p >= 0 && options.dropout_p <= 1))
    fail("{}: dropout_p {} is not a probability in [0, 1]", op, options.dropout_p);
  if (options.window < 0)
    fail("{}: window {} is negative (0 for none, W > 0 for the W latest keys)", op, options.window);
  kernels::AttentionProblem problem{
      .batch = B,
      .heads = H,
      .queries = Tq,
      .keys = Tk,
      .head_dim = d,
      .value_dim = v.size(3),
      .scale = options.scale.value_or(1.0 / std::sqrt(static_cast<double>(d))),
      .causal = options.is_causal,
      .window = options.window,
      .query_offset = options.lower_right ? Tk - Tq : 0,
      .dropout = options.dropout_p,
      .dropout_seed = options.dropout_seed,
  };
  if (options.mask.defined()) {
    const Shape strides = mask_strides(op, options.mask, {B, H, Tq, Tk});
    problem.mask = {options.mask.data<bool>(), strides[0], strides[1], strides[2], strides[3]};
  }
  return problem;
}

// The op on q, k, v, which are views into the memory of `inputs`; its backward asks
// `make_gradients(q, k, v)` where to write dq, dk and dv. (It gets the saved q, k and v, of the
// inputs' shapes, rather than keeping shapes of its own: a closure holding shapes would copy
// them each time the op runs, recorded or not.)
template <class MakeGradients>
Tensor attend(std::string_view op, std::span<const Tensor> inputs, const Tensor& q, const Tensor& k,
              const Tensor& v, const FusedAttentionOptions& options, MakeGradients make_gradients) {
  const kernels::AttentionProblem problem = problem_of(op, q, k, v, options);
  const Tensor out =
      empty_heads(problem.batch, problem.heads, problem.queries, problem.value_dim, q.dtype());
  // The row log-sum-exps, only when a backward will read them.
  const Tensor lse = detail::should_record(inputs)
                         ? Tensor::empty({problem.batch, problem.heads, problem.queries}, q.dtype())
                         : Tensor();
  dispatch_floating(q.dtype(), op, [&]<class T>() {
    kernels::flash_attention_forward<T>(problem, heads_view<const T>(q), heads_view<const T>(k),
                                        heads_view<const T>(v), heads_view<T>(out),
                                        lse.defined() ? lse.data<T>() : nullptr);
  });
  // Per (batch, head), Q [Tq, d], K [Tk, d], V [Tk, dv], M the dropout factors (0 or 1/(1-p);
  // all 1 without dropout):
  //   S = scale·Q Kᵀ [Tq, Tk],  P = softmax(S) by rows (masked),  P̃ = P ⊙ M,  O = P̃ V
  // The backward, from dO = g, by the rules of matmul, dropout and softmax (dX = ∂L/∂X):
  //   dV = P̃ᵀ dO                           [Tk, Tq] @ [Tq, dv]
  //   dP̃ = dO Vᵀ,  dP = dP̃ ⊙ M              [Tq, dv] @ [dv, Tk]
  //   dS = P ⊙ (dP - rowsum(dP ⊙ P))        softmax's y ⊙ (g - Σ g·y), row by row
  //   dQ = scale·dS K,  dK = scale·dSᵀ Q    [Tq, Tk] @ [Tk, d], [Tk, Tq] @ [Tq, d]
  // where rowsum(dP ⊙ P)_i = Σ_j P̃_ij·(dO_i·V_j) = dO_i·O_i needs no P, and P is recomputed
  // tile by tile from the saved row log-sum-exps, P_ij = exp(S_ij - lse_i): the backward never
  // holds a [Tq, Tk] tensor (flash_attention.cpp).
  return record(op, out, inputs,
                [op, problem, q = saved(q), k = saved(k), v = saved(v), out = saved(out), lse,
                 mask = options.mask, make_gradients](const Tensor& g) -> Grads {
                  const Gradients gradients = make_gradients(q, k, v);
                  dispatch_floating(q.dtype(), op, [&]<class T>() {
                    kernels::flash_attention_backward<T>(
                        problem, heads_view<const T>(q), heads_view<const T>(k),
                        heads_view<const T>(v), heads_view<const T>(out), lse.data<T>(),
                        heads_view<const T>(g), heads_view<T>(gradients.dq),
                        heads_view<T>(gradients.dk), heads_view<T>(gradients.dv));
                  });
                  return gradients.inputs;
                });
}

}  // namespace

Tensor fused_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                       const FusedAttentionOptions& options) {
  const auto make_gradients = [](const Tensor& q, const Tensor& k, const Tensor& v) {
    const auto gradient = [](const Tensor& x) {
      return empty_heads(x.size(0), x.size(1), x.size(2), x.size(3), x.dtype());
    };
    const Tensor dq = gradient(q), dk = gradient(k), dv = gradient(v);
    return Gradients{{dq, dk, dv}, dq, dk, dv};
  };
  const Tensor inputs[] = {q, k, v};
  return attend("fused_attention", inputs, q, k, v, options, make_gradients);
}

Tensor fused_attention_packed(const Tensor& qkv, const FusedAttentionOptions& options) {
  if (qkv.dim() != 5 || qkv.size(2) != 3)
    fail("fused_attention_packed: qkv {} is not [B, T, 3, H, d]", qkv.shape());
  const int64_t B = qkv.size(0), T = qkv.size(1), H = qkv.size(3), d = qkv.size(4);
  // Slice s of x [B, T, 3, H, d] as [B, H, T, d], in place.
  const auto slice = [B, T, H, d](const Tensor& x, int64_t s) {
    const Shape& st = x.strides();
    return x.alias({B, H, T, d}, {st[0], st[3], st[1], st[4]}, x.storage_offset() + s * st[2]);
  };
  // q [B, H, T, d] -> dqkv [B, T, 3, H, d]
  const auto make_gradients = [slice](const Tensor& q, const Tensor&, const Tensor&) {
    const Tensor dqkv = Tensor::empty({q.size(0), q.size(2), 3, q.size(1), q.size(3)}, q.dtype());
    return Gradients{{dqkv}, slice(dqkv, 0), slice(dqkv, 1), slice(dqkv, 2)};
  };
  const Tensor inputs[] = {qkv};
  return attend("fused_attention_packed", inputs, slice(qkv, 0), slice(qkv, 1), slice(qkv, 2),
                options, make_gradients);
}

}  // namespace tapegrad
