// Making tensors: constant fills, ranges, values from nested lists or vectors, and seeded random
// fills. Options follow libtorch: `zeros({2, 3}, {.dtype = kFloat64, .requires_grad = true})`.
#pragma once

#include <initializer_list>
#include <vector>

#include "autograd/generator.hpp"
#include "autograd/tensor.hpp"

namespace tapegrad {

struct TensorOptions {
  DType dtype = kFloat32;
  bool requires_grad = false;
};

Tensor empty(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, double value, TensorOptions options = {});
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor zeros_like(const Tensor& x);
Tensor ones_like(const Tensor& x);
// start, start + step, ... while below end (above it for a negative step).
Tensor arange(double start, double end, double step = 1.0, TensorOptions options = {});
Tensor arange(double end, TensorOptions options = {});
Tensor eye(int64_t n, TensorOptions options = {});

// Values in row-major order with the given shape, converted to options.dtype.
Tensor from_vector(const std::vector<double>& values, const Shape& shape,
                   TensorOptions options = {});
Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape,
                   TensorOptions options = {.dtype = kInt64});
// A literal of nested braces, as libtorch's torch::tensor takes: 2.5, {1, 2}, {{1, 2}, {3, 4}}...
// Every list at one depth must have the same shape.
class NestedValues {
 public:
  NestedValues(double value) : values_{value} {}  // NOLINT: implicit, so literals read naturally
  NestedValues(std::initializer_list<NestedValues> items);
  const Shape& shape() const { return shape_; }
  const std::vector<double>& values() const { return values_; }

 private:
  Shape shape_;
  std::vector<double> values_;
};
Tensor tensor(const NestedValues& values, TensorOptions options = {});
Tensor scalar_tensor(double value, TensorOptions options = {});

// Seeded random fills (the thread's default generator unless one is given).
Tensor rand(const Shape& shape, TensorOptions options = {},
            Generator& generator = default_generator());
Tensor randn(const Shape& shape, TensorOptions options = {},
             Generator& generator = default_generator());
Tensor uniform(const Shape& shape, double low, double high, TensorOptions options = {},
               Generator& generator = default_generator());
Tensor normal(const Shape& shape, double mean, double std, TensorOptions options = {},
              Generator& generator = default_generator());
// Integers drawn uniformly from [low, high), as int64.
Tensor randint(int64_t low, int64_t high, const Shape& shape,
               Generator& generator = default_generator());
// num_samples category indices (int64) drawn from each row of probs, [C] or [B, C], by weight
// (the rows need not sum to 1): [num_samples] or [B, num_samples]. Without replacement the
// categories of a row are distinct, in the order in which they were drawn.
Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement = false,
                   Generator& generator = default_generator());

}  // namespace tapegrad
