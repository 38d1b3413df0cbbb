#include "autograd/ops/join.hpp"

#include <algorithm>
#include <numeric>

#include "autograd/ops/copy.hpp"
#include "autograd/ops/indexing.hpp"
#include "autograd/ops/shape_ops.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  if (tensors.empty()) fail("cat: expected at least one tensor, got none");
  const Tensor& first = tensors.front();
  if (first.dim() == 0)
    fail("cat: tensor 0 is 0-dim (shape {}); cat needs at least one dim", first.shape());
  dim = normalize_dim(dim, first.dim(), "cat");
  Shape shape = first.shape();
  shape[dim] = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    Shape expected = first.shape();
    if (t.dim() == first.dim()) expected[dim] = t.shape()[dim];
    if (t.shape() != expected || t.dtype() != first.dtype())
      fail(
          "cat: tensor {} of shape {} and {} does not match tensor 0 of shape {} and {} "
          "outside dim {}",
          i, t.shape(), t.dtype(), first.shape(), first.dtype(), dim);
    shape[dim] += t.shape()[dim];
  }
  // Row o of the output along [outer, shape[dim] · inner] is the inputs' rows o side by side.
  const int64_t outer =
      std::accumulate(shape.begin(), shape.begin() + dim, int64_t{1}, std::multiplies<>());
  const int64_t inner =
      std::accumulate(shape.begin() + dim + 1, shape.end(), int64_t{1}, std::multiplies<>());
  const int64_t row = shape[dim] * inner;
  Tensor out = Tensor::empty(shape, first.dtype());
  int64_t column = 0;
  for (const Tensor& t : tensors) {
    const Tensor input = contiguous_values(t);
    const int64_t width = t.shape()[dim] * inner;
    dispatch_all(t.dtype(), [&]<class T>() {
      const T* from = input.data<T>();
      T* to = out.data<T>() + column;
      for (int64_t o = 0; o < outer; ++o) std::copy_n(from + o * width, width, to + o * row);
    });
    column += width;
  }
  Shape sizes;
  for (const Tensor& t : tensors) sizes.push_back(t.shape()[dim]);
  // out is x_0, x_1, ... side by side along dim, each of its elements one element of one x_i, so
  // ∂L/∂x_i = the slice of g that x_i filled
  return record("cat", out, tensors, [dim, sizes](const Tensor& g) -> Grads {
    Grads grads;
    int64_t start = 0;
    for (int64_t size : sizes) {
      grads.push_back(narrow(g, dim, start, size));
      start += size;
    }
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  if (tensors.empty()) fail("stack: expected at least one tensor, got none");
  const Tensor& first = tensors.front();
  dim = normalize_dim(dim, first.dim() + 1, "stack");
  std::vector<Tensor> unsqueezed;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].shape() != first.shape())
      fail("stack: tensor {} has shape {}, tensor 0 has shape {}; stack needs one shape", i,
           tensors[i].shape(), first.shape());
    unsqueezed.push_back(unsqueeze(tensors[i], dim));
  }
  return cat(unsqueezed, dim);
}

}  // namespace tapegrad
