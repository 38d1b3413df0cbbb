#include "autograd/factories.hpp"

#include <cmath>

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

}  // namespace tapegrad
