#include "autograd/ops/loss.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "autograd/ops/copy.hpp"
#include "autograd/ops/elementwise.hpp"
#include "autograd/ops/reduce.hpp"
#include "autograd/ops/shape_ops.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

Tensor reduce(const Tensor& loss, Reduction reduction) {
  switch (reduction) {
    case Reduction::None:
      return loss;
    case Reduction::Mean:
      return mean(loss);
    case Reduction::Sum:
      return sum(loss);
  }
  fail("loss: unknown reduction");
}

// ---- cross_entropy ----

// logits viewed as [batch, classes, inner]: a target is one (n, j), its logits classes elements
// `inner` apart.
struct ClassLayout {
  int64_t batch, classes, inner;
  int64_t targets() const { return batch * inner; }
  int64_t first_logit(int64_t s) const { return (s / inner) * classes * inner + s % inner; }
};

// The soft target of one call: q_c = (1-ε)·w[y]·[c == y] + (ε/C)·w[c] for target class y.
template <class T>
struct SoftTarget {
  const T* weight;  // null: every class weighs 1
  int64_t classes;
  T smoothing;
  T weight_sum;  // Σ_c w[c]

  static SoftTarget of(const Tensor& weight, int64_t classes, double smoothing) {
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    const T weight_sum = w ? std::accumulate(w, w + classes, T(0)) : static_cast<T>(classes);
    return {w, classes, static_cast<T>(smoothing), weight_sum};
  }
  T class_weight(int64_t c) const { return weight ? weight[c] : T(1); }
  T at(int64_t c, int64_t y) const {
    return (c == y ? (1 - smoothing) * class_weight(y) : T(0)) +
           smoothing / static_cast<T>(classes) * class_weight(c);
  }
  T total(int64_t y) const {  // Σ_c q_c
    return (1 - smoothing) * class_weight(y) + smoothing / static_cast<T>(classes) * weight_sum;
  }
};

// A language model's logits [B, T, V] with targets [B, T]: the classes are in the last dim, not in
// dim 1 as cross_entropy (and PyTorch) takes them. The error says how to get either layout.
void check_classes_not_last(const Tensor& logits, const Tensor& target) {
  Shape leading = logits.shape();
  const int64_t classes = leading.back();
  leading.pop_back();
  if (logits.dim() < 3 || target.shape() != leading) return;
  Shape classes_second = {0, logits.dim() - 1};  // the permutation that moves the classes to dim 1
  for (int64_t d = 1; d < logits.dim() - 1; ++d) classes_second.push_back(d);
  Shape permuted = {logits.shape()[0], classes};
  permuted.insert(permuted.end(), leading.begin() + 1, leading.end());
  fail(
      "cross_entropy: logits of shape {} and target of shape {} hold the classes in the last dim, "
      "but cross_entropy takes them in dim 1 (as PyTorch); flatten both, "
      "cross_entropy(logits.reshape({{-1, {}}}), target.reshape({{-1}})), or move the classes to "
      "dim 1 with logits.permute({{{}}}) (shape {})",
      logits.shape(), target.shape(), classes, fmt::join(classes_second, ", "), permuted);
}

void check_cross_entropy(const Tensor& logits, const Tensor& target,
                         const CrossEntropyOptions& options) {
  if (logits.dim() < 2)
    fail("cross_entropy: logits must be [N, C] or [N, C, d...], got shape {}", logits.shape());
  Shape target_shape = logits.shape();
  target_shape.erase(target_shape.begin() + 1);
  if (target.shape() != target_shape) check_classes_not_last(logits, target);
  if (target.dtype() != kInt64 || target.shape() != target_shape)
    fail(
        "cross_entropy: target must be int64 of shape {} for logits of shape {}, "
        "got {} of shape {}",
        target_shape, logits.shape(), target.dtype(), target.shape());
  const Tensor& weight = options.weight;
  if (weight.defined() &&
      (weight.shape() != Shape{logits.shape()[1]} || weight.dtype() != logits.dtype()))
    fail(
        "cross_entropy: weight must be {} of shape [{}] for logits of shape {}, got {} of shape {}",
        logits.dtype(), logits.shape()[1], logits.shape(), weight.dtype(), weight.shape());
  if (weight.defined() && weight.requires_grad())
    fail(
        "cross_entropy: the class weight of shape {} requires grad, "
        "but cross_entropy gives it none",
        weight.shape());
  if (!(options.label_smoothing >= 0.0 && options.label_smoothing <= 1.0))
    fail("cross_entropy: label_smoothing {} is outside [0, 1] (logits shape {})",
         options.label_smoothing, logits.shape());
  if (options.reduction == Reduction::Mean && target.numel() == 0)
    fail(
        "cross_entropy: the mean over an empty batch (logits shape {}) is undefined; take "
        "Reduction::Sum or skip the batch",
        logits.shape());
}

void check_targets(const Tensor& target, int64_t classes, int64_t ignore_index,
                   const Shape& logits_shape) {
  const int64_t* p = target.data<int64_t>();
  const auto bad = std::find_if(p, p + target.numel(), [&](int64_t y) {
    return y != ignore_index && (y < 0 || y >= classes);
  });
  if (bad != p + target.numel())
    fail(
        "cross_entropy: target {} at position {} is out of range [0, {}) for logits of shape {} "
        "(ignore_index {})",
        *bad, unravel_index(bad - p, target.shape()), classes, logits_shape, ignore_index);
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     const CrossEntropyOptions& options) {
  check_cross_entropy(logits, target, options);
  const Tensor targets = contiguous(target);
  const Shape& shape = logits.shape();
  const ClassLayout layout{
      shape[0], shape[1],
      std::accumulate(shape.begin() + 2, shape.end(), int64_t{1}, std::multiplies<>())};
  check_targets(targets, layout.classes, options.ignore_index, logits.shape());
  const Tensor x = contiguous(logits.detach());
  const Tensor weight = options.weight.defined() ? contiguous(options.weight.detach()) : Tensor();
  const int64_t ignore_index = options.ignore_index;
  const double label_smoothing = options.label_smoothing;
  Tensor per_target = Tensor::empty(targets.shape(), x.dtype());
  Tensor log_sum_exp = Tensor::empty(targets.shape(), x.dtype());
  double total_weight = 0.0;  // Σ w[y] over the targets not ignored: Mean's divisor

  dispatch_floating(x.dtype(), "cross_entropy", [&]<class T>() {
    const auto q = SoftTarget<T>::of(weight, layout.classes, label_smoothing);
    const int64_t* y = targets.data<int64_t>();
    T* loss = per_target.data<T>();
    T* lse = log_sum_exp.data<T>();
    for (int64_t s = 0; s < layout.targets(); ++s) {
      loss[s] = lse[s] = T(0);
      if (y[s] == ignore_index) continue;
      // loss = Σ_c q_c·(lse - x_c), lse = log Σ_c exp(x_c), through the max
      const T* row = x.data<T>() + layout.first_logit(s);
      T max = -std::numeric_limits<T>::infinity();
      for (int64_t c = 0; c < layout.classes; ++c) max = std::max(max, row[c * layout.inner]);
      T exp_sum = 0;
      for (int64_t c = 0; c < layout.classes; ++c) exp_sum += std::exp(row[c * layout.inner] - max);
      lse[s] = max + std::log(exp_sum);
      for (int64_t c = 0; c < layout.classes; ++c)
        loss[s] += q.at(c, y[s]) * (lse[s] - row[c * layout.inner]);
      total_weight += q.class_weight(y[s]);
    }
  });

  Tensor out = per_target;
  if (options.reduction != Reduction::None) {
    const Tensor summed = sum(per_target);
    out = options.reduction == Reduction::Sum ? summed : mul(summed, 1.0 / total_weight);
  }
  // Per target, with p = softmax(x) and the soft target q of SoftTarget (label smoothing ε, class
  // weights w, target class y: q_c = (1-ε)·w[y]·[c = y] + (ε/C)·w[c]):
  //   loss = Σ_k q_k·(lse - x_k),   lse = log Σ_k e^(x_k),   ∂lse/∂x_c = e^(x_c - lse) = p_c
  //   ∂loss/∂x_c = Σ_k q_k·p_c - q_c = p_c·Σ_k q_k - q_c
  //   Σ_k q_k = (1-ε)·w[y] + (ε/C)·Σ_k w[k]       (q.total; ε = 0, w = 1: p_c - [c = y])
  // then the chain rule through the reduction: scale = g[s] (None), g (Sum), or g / Σ_s w[y_s]
  // (Mean: the divisor does not depend on x); an ignored target gets 0.
  return record(
      "cross_entropy", out, {logits},
      [x, targets, weight, log_sum_exp, layout, ignore_index, label_smoothing,
       reduction = options.reduction, total_weight](const Tensor& g) -> Grads {
        const Tensor gc = contiguous(g);
        Tensor dx = Tensor::empty(x.shape(), x.dtype());
        dispatch_floating(x.dtype(), "cross_entropy", [&]<class T>() {
          const auto q = SoftTarget<T>::of(weight, layout.classes, label_smoothing);
          const int64_t* y = targets.data<int64_t>();
          const T* lse = log_sum_exp.data<T>();
          const T* grad = gc.data<T>();
          const T divisor = reduction == Reduction::Mean ? static_cast<T>(total_weight) : T(1);
          for (int64_t s = 0; s < layout.targets(); ++s) {
            const int64_t first = layout.first_logit(s);
            const T* row = x.data<T>() + first;
            T* d_row = dx.data<T>() + first;
            const bool ignored = y[s] == ignore_index;
            const T scale = (reduction == Reduction::None ? grad[s] : grad[0]) / divisor;
            const T q_total = ignored ? T(0) : q.total(y[s]);
            for (int64_t c = 0; c < layout.classes; ++c) {
              const int64_t i = c * layout.inner;
              d_row[i] =
                  ignored ? T(0) : scale * (std::exp(row[i] - lse[s]) * q_total - q.at(c, y[s]));
            }
          }
        });
        return {dx};
      });
}

// ---- binary_cross_entropy_with_logits ----

namespace {

// One element's loss and derivatives, for logit x, target t and positive weight p:
//   loss = (1-t)·x + L·softplus(-x), L = 1 + (p-1)·t, softplus(-x) = log(1+exp(-|x|)) + max(-x,0)
template <class T>
struct BinaryTerm {
  T x, t, p;

  T softplus_of_neg_x() const { return std::log1p(std::exp(-std::abs(x))) + std::max(-x, T(0)); }
  T sigmoid_of_neg_x() const {
    const T e = std::exp(-std::abs(x));
    return x >= 0 ? e / (1 + e) : 1 / (1 + e);
  }
  T positive_weight() const { return 1 + (p - 1) * t; }
  T loss() const { return (1 - t) * x + positive_weight() * softplus_of_neg_x(); }
  T d_logit() const { return (1 - t) - positive_weight() * sigmoid_of_neg_x(); }
  T d_target() const { return -x + (p - 1) * softplus_of_neg_x(); }
};

// Calls f(BinaryTerm<T>, i) for every element; pos_weight is contiguous of x's shape, or undefined.
template <class T, class F>
void for_each_binary_term(const Tensor& x, const Tensor& t, const Tensor& pos_weight, F&& f) {
  const T one = 1;
  const T* px = x.data<T>();
  const T* pt = t.data<T>();
  const T* pp = pos_weight.defined() ? pos_weight.data<T>() : &one;
  const int64_t p_step = pos_weight.defined() ? 1 : 0;
  const int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i) f(BinaryTerm<T>{px[i], pt[i], pp[i * p_step]}, i);
}

}  // namespace

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets,
                                        const BCEWithLogitsOptions& options) {
  if (targets.shape() != logits.shape() || targets.dtype() != logits.dtype())
    fail(
        "binary_cross_entropy_with_logits: targets ({} of shape {}) "
        "must match the logits ({} of shape {})",
        targets.dtype(), targets.shape(), logits.dtype(), logits.shape());
  const Tensor& pos_weight = options.pos_weight;
  if (pos_weight.defined() &&
      (pos_weight.dtype() != logits.dtype() ||
       broadcast_shapes(pos_weight.shape(), logits.shape(), "binary_cross_entropy_with_logits") !=
           logits.shape()))
    fail(
        "binary_cross_entropy_with_logits: pos_weight ({} of shape {}) must be {} and broadcast to "
        "the logits' shape {}",
        pos_weight.dtype(), pos_weight.shape(), logits.dtype(), logits.shape());
  if (pos_weight.defined() && pos_weight.requires_grad())
    fail("binary_cross_entropy_with_logits: pos_weight of shape {} requires grad, but gets none",
         pos_weight.shape());
  const Tensor x = contiguous(logits.detach()), t = contiguous(targets.detach());
  const Tensor p =
      pos_weight.defined() ? contiguous(expand(pos_weight.detach(), logits.shape())) : Tensor();
  Tensor loss = Tensor::empty(x.shape(), x.dtype());
  dispatch_floating(x.dtype(), "binary_cross_entropy_with_logits", [&]<class T>() {
    T* out = loss.data<T>();
    for_each_binary_term<T>(x, t, p,
                            [&](const BinaryTerm<T>& term, int64_t i) { out[i] = term.loss(); });
  });
  // From -[p·t·log σ(x) + (1-t)·log(1 - σ(x))] with log σ(x) = -softplus(-x) and
  // log(1 - σ(x)) = -x - softplus(-x): loss = (1-t)·x + L·softplus(-x), L = 1 + (p-1)·t.
  // d softplus(u)/du = σ(u), so d softplus(-x)/dx = -σ(-x):
  //   ∂loss/∂x = (1-t) - L·σ(-x)
  //   ∂loss/∂t = -x + (p-1)·softplus(-x)
  loss = record("binary_cross_entropy_with_logits", loss, {logits, targets},
                [x, t, p](const Tensor& g) -> Grads {
                  const Tensor gc = contiguous(g);
                  Tensor dx = Tensor::empty(x.shape(), x.dtype()),
                         dt = Tensor::empty(x.shape(), x.dtype());
                  dispatch_floating(x.dtype(), "binary_cross_entropy_with_logits", [&]<class T>() {
                    const T* grad = gc.data<T>();
                    T* d_logits = dx.data<T>();
                    T* d_targets = dt.data<T>();
                    for_each_binary_term<T>(x, t, p, [&](const BinaryTerm<T>& term, int64_t i) {
                      d_logits[i] = grad[i] * term.d_logit();
                      d_targets[i] = grad[i] * term.d_target();
                    });
                  });
                  return {dx, dt};
                });
  return reduce(loss, options.reduction);
}

// ---- mse_loss ----

Tensor mse_loss(const Tensor& a, const Tensor& b, Reduction reduction) {
  // ∂(a-b)²/∂a = 2(a-b), ∂(a-b)²/∂b = -2(a-b): the backwards of sub and of mul (d·d, whose
  // two factors each get g·d) give exactly that
  const Tensor difference = sub(a, b);
  return reduce(mul(difference, difference), reduction);
}

}  // namespace tapegrad
