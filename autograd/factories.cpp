#include "autograd/factories.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "autograd/kernels/map.hpp"

namespace tapegrad {
namespace {

// A new tensor whose i-th element (row-major) is value(i), in options.dtype.
template <class Value>
Tensor generate(const Shape& shape, TensorOptions options, Value&& value) {
  Tensor out = Tensor::empty(shape, options.dtype);
  dispatch_all(options.dtype, [&]<class T>() {
    T* data = out.data<T>();
    const int64_t n = out.numel();
    for (int64_t i = 0; i < n; ++i) data[i] = static_cast<T>(value(i));
  });
  if (options.requires_grad) out.requires_grad_();
  return out;
}

}  // namespace

Tensor empty(const Shape& shape, TensorOptions options) {
  Tensor out = Tensor::empty(shape, options.dtype);
  if (options.requires_grad) out.requires_grad_();
  return out;
}

Tensor full(const Shape& shape, double value, TensorOptions options) {
  Tensor out = empty(shape, options);
  dispatch_all(options.dtype, [&]<class T>() {
    kernels::fill(out.data<T>(), out.numel(), static_cast<T>(value));
  });
  return out;
}
Tensor zeros(const Shape& shape, TensorOptions options) { return full(shape, 0.0, options); }
Tensor ones(const Shape& shape, TensorOptions options) { return full(shape, 1.0, options); }
Tensor zeros_like(const Tensor& x) { return zeros(x.shape(), {.dtype = x.dtype()}); }
Tensor ones_like(const Tensor& x) { return ones(x.shape(), {.dtype = x.dtype()}); }

Tensor arange(double start, double end, double step, TensorOptions options) {
  if (step == 0 || !std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step))
    fail("arange: invalid range start {}, end {}, step {}", start, end, step);
  const double count = std::max(0.0, std::ceil((end - start) / step));
  return generate({static_cast<int64_t>(count)}, options,
                  [=](int64_t i) { return start + static_cast<double>(i) * step; });
}
Tensor arange(double end, TensorOptions options) { return arange(0.0, end, 1.0, options); }

Tensor eye(int64_t n, TensorOptions options) {
  return generate({n, n}, options, [n](int64_t i) { return i / n == i % n ? 1.0 : 0.0; });
}

Tensor from_vector(const std::vector<double>& values, const Shape& shape, TensorOptions options) {
  if (numel(shape, "from_vector") != static_cast<int64_t>(values.size()))
    fail("from_vector: {} values do not fill shape {}", values.size(), shape);
  return generate(shape, options, [&](int64_t i) { return values[i]; });
}

Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape, TensorOptions options) {
  if (numel(shape, "from_vector") != static_cast<int64_t>(values.size()))
    fail("from_vector: {} values do not fill shape {}", values.size(), shape);
  return generate(shape, options, [&](int64_t i) { return values[i]; });
}

NestedValues::NestedValues(std::initializer_list<NestedValues> items) {
  shape_ = {static_cast<int64_t>(items.size())};
  for (const NestedValues& item : items) {
    if (item.shape() != items.begin()->shape())
      fail("tensor: nested lists of different shapes ({} and {})", items.begin()->shape(),
           item.shape());
    values_.insert(values_.end(), item.values().begin(), item.values().end());
  }
  if (items.size() > 0)
    shape_.insert(shape_.end(), items.begin()->shape().begin(), items.begin()->shape().end());
}

Tensor tensor(const NestedValues& values, TensorOptions options) {
  return from_vector(values.values(), values.shape(), options);
}

Tensor scalar_tensor(double value, TensorOptions options) { return full({}, value, options); }

Tensor rand(const Shape& shape, TensorOptions options, Generator& generator) {
  return uniform(shape, 0.0, 1.0, options, generator);
}

Tensor randn(const Shape& shape, TensorOptions options, Generator& generator) {
  return normal(shape, 0.0, 1.0, options, generator);
}

Tensor uniform(const Shape& shape, double low, double high, TensorOptions options,
               Generator& generator) {
  if (!(low <= high)) fail("uniform: low {} is above high {}", low, high);
  return generate(shape, options,
                  [&](int64_t) { return low + (high - low) * generator.uniform(); });
}

Tensor normal(const Shape& shape, double mean, double std, TensorOptions options,
              Generator& generator) {
  if (!(std >= 0)) fail("normal: std {} is negative", std);
  return generate(shape, options, [&](int64_t) { return mean + std * generator.normal(); });
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator& generator) {
  if (low >= high) fail("randint: empty range [{}, {})", low, high);
  const uint64_t range = static_cast<uint64_t>(high - low);
  return generate(shape, {.dtype = kInt64}, [&](int64_t) {
    return low + static_cast<int64_t>(generator.next_u64() % range);
  });
}

namespace {

// The checks of one row of multinomial's probs (the weights of `row`, 0 for 1-dim probs).
void check_weights(const Tensor& probs, int64_t row, const double* weights, int64_t num_samples,
                   bool replacement) {
  const int64_t categories = probs.shape().back();
  const auto bad = std::find_if(weights, weights + categories,
                                [](double w) { return !(w >= 0 && std::isfinite(w)); });
  if (bad != weights + categories)
    fail(
        "multinomial: probs{} = {} (probs of shape {}); "
        "every probability must be finite and non-negative",
        unravel_index(row * categories + (bad - weights), probs.shape()), *bad, probs.shape());
  const int64_t possible =
      std::count_if(weights, weights + categories, [](double w) { return w > 0; });
  if (possible == 0)
    fail(
        "multinomial: row {} of probs (shape {}) is all zero; give at least one category a "
        "positive probability",
        row, probs.shape());
  if (!replacement && possible < num_samples)
    fail(
        "multinomial: {} samples without replacement, but row {} of probs (shape {}) has only {} "
        "categories of nonzero probability; pass replacement = true or ask for at most {}",
        num_samples, row, probs.shape(), possible, possible);
}

// num_samples categories drawn with replacement from weights (not normalised): the first whose
// cumulative weight exceeds u·total, u uniform on [0, 1).
void draw_with_replacement(const double* weights, int64_t categories, int64_t num_samples,
                           Generator& generator, int64_t* out) {
  std::vector<double> cumulative(static_cast<std::size_t>(categories));
  std::partial_sum(weights, weights + categories, cumulative.begin());
  // The last category of positive weight: u·total rounded up to total must not go beyond it.
  int64_t last = categories - 1;
  while (weights[last] == 0) --last;
  for (int64_t s = 0; s < num_samples; ++s) {
    const double u = generator.uniform() * cumulative.back();
    const auto found = std::upper_bound(cumulative.begin(), cumulative.end(), u);
    out[s] = std::min<int64_t>(found - cumulative.begin(), last);
  }
}

// num_samples distinct categories in the order sequential draws without replacement give them:
// category c waits E_c / w_c, E_c exponential, and the first to arrive are drawn first (the
// smallest of independent exponential waits is c with probability w_c / Σw, and the rest race on,
// memoryless). PyTorch draws them so too.
void draw_without_replacement(const double* weights, int64_t categories, int64_t num_samples,
                              Generator& generator, int64_t* out) {
  std::vector<double> wait(static_cast<std::size_t>(categories));
  for (int64_t c = 0; c < categories; ++c) {
    const double exponential = -std::log1p(-generator.uniform());
    wait[c] = weights[c] > 0 ? exponential / weights[c] : std::numeric_limits<double>::infinity();
  }
  std::vector<int64_t> order(static_cast<std::size_t>(categories));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::partial_sort(
      order.begin(), order.begin() + num_samples, order.end(),
      [&](int64_t a, int64_t b) { return wait[a] < wait[b] || (wait[a] == wait[b] && a < b); });
  std::copy_n(order.begin(), num_samples, out);
}

}  // namespace

Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement,
                   Generator& generator) {
  if (!is_floating(probs.dtype()) || probs.dim() < 1 || probs.dim() > 2)
    fail("multinomial: probs must be float32 or float64 of shape [C] or [B, C], got {} of shape {}",
         probs.dtype(), probs.shape());
  const int64_t categories = probs.shape().back();
  const int64_t rows = probs.dim() == 2 ? probs.shape()[0] : 1;
  if (num_samples <= 0)
    fail("multinomial: num_samples {} must be positive (probs shape {})", num_samples,
         probs.shape());
  if (!replacement && num_samples > categories)
    fail(
        "multinomial: {} samples without replacement from {} categories (probs shape {}); pass "
        "replacement = true or ask for at most {}",
        num_samples, categories, probs.shape(), categories);
  const std::vector<double> weights = probs.detach().to_vector();
  for (int64_t row = 0; row < rows; ++row)
    check_weights(probs, row, weights.data() + row * categories, num_samples, replacement);
  Shape shape = probs.shape();
  shape.back() = num_samples;
  Tensor samples = Tensor::empty(shape, kInt64);
  for (int64_t row = 0; row < rows; ++row) {
    const double* row_weights = weights.data() + row * categories;
    int64_t* out = samples.data<int64_t>() + row * num_samples;
    if (replacement)
      draw_with_replacement(row_weights, categories, num_samples, generator, out);
    else
      draw_without_replacement(row_weights, categories, num_samples, generator, out);
  }
  return samples;
}

}  // namespace tapegrad
