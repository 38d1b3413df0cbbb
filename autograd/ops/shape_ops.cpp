#include "autograd/ops/shape_ops.hpp"

#include <algorithm>
#include <numeric>

#include "autograd/ops/copy.hpp"
#include "autograd/ops/reduce.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

// `requested` with its one -1 (if any) replaced so that it holds `count` elements.
Shape infer_size(const Shape& requested, int64_t count, std::string_view op, const Shape& from) {
  Shape shape = requested;
  const auto inferred = std::find(shape.begin(), shape.end(), -1);
  if (inferred != shape.end()) {
    if (std::count(shape.begin(), shape.end(), -1) > 1)
      fail("{}: only one size may be -1 in {}", op, requested);
    *inferred = 1;
    const int64_t known = numel(shape, op);
    // Beside a 0, the -1 fits any size when there are no elements, none when there are some
    // (the size check below says so).
    if (known != 0) {
      *inferred = count / known;
    } else if (count == 0) {
      fail(
          "{}: shape {} leaves the -1 ambiguous for a tensor of shape {}, as any size fits beside "
          "a 0: give every size",
          op, requested, from);
    }
  }
  if (numel(shape, op) != count)
    fail("{}: shape {} is invalid for a tensor of shape {} ({} elements)", op, requested, from,
         count);
  return shape;
}

}  // namespace

Tensor view(const Tensor& x, Shape shape) {
  if (!x.is_contiguous())
    fail("view: the tensor of shape {} and strides {} is not contiguous; use reshape()", x.shape(),
         x.strides());
  shape = infer_size(shape, x.numel(), "view", x.shape());
  Tensor out = x.alias(shape, contiguous_strides(shape), x.storage_offset());
  // out holds x's elements in the same order under another shape: out_i = x_i (flat index i),
  // so ∂L/∂x = g viewed back in x's shape
  return record("view", out, {x}, [input_shape = saved(x.shape())](const Tensor& g) -> Grads {
    return {reshape(g, input_shape)};
  });
}

Tensor reshape(const Tensor& x, Shape shape) {
  shape = infer_size(shape, x.numel(), "reshape", x.shape());
  return view(contiguous(x), std::move(shape));
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  if (x.dim() == 0) return reshape(x, {1});
  start_dim = normalize_dim(start_dim, x.dim(), "flatten");
  end_dim = normalize_dim(end_dim, x.dim(), "flatten");
  if (start_dim > end_dim)
    fail("flatten: start_dim {} is after end_dim {} (shape {})", start_dim, end_dim, x.shape());
  Shape shape(x.shape().begin(), x.shape().begin() + start_dim);
  shape.push_back(-1);
  shape.insert(shape.end(), x.shape().begin() + end_dim + 1, x.shape().end());
  return reshape(x, shape);
}

Tensor permute(const Tensor& x, const Shape& dims) {
  if (static_cast<int64_t>(dims.size()) != x.dim())
    fail("permute: {} dims given for a tensor of shape {}", dims.size(), x.shape());
  Shape shape(dims.size()), strides(dims.size()), inverse(dims.size(), -1);
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = normalize_dim(dims[i], x.dim(), "permute");
    if (inverse[d] != -1) fail("permute: dim {} repeats in {}", d, dims);
    inverse[d] = static_cast<int64_t>(i);
    shape[i] = x.shape()[d];
    strides[i] = x.strides()[d];
  }
  Tensor out = x.alias(shape, strides, x.storage_offset());
  // out's dim i is x's dim p[i]: each element of x is one element of out, moved, so ∂L/∂x is g
  // with the move undone, permute(g, p⁻¹)
  return record("permute", out, {x},
                [inverse](const Tensor& g) -> Grads { return {permute(g, inverse)}; });
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  Shape dims(static_cast<std::size_t>(x.dim()));
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[normalize_dim(dim0, x.dim(), "transpose")],
            dims[normalize_dim(dim1, x.dim(), "transpose")]);
  return permute(x, dims);
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  dim = normalize_dim(dim, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape(), strides = x.strides();
  const int64_t stride = dim < x.dim() ? x.strides()[dim] * x.shape()[dim] : 1;
  shape.insert(shape.begin() + dim, 1);
  strides.insert(strides.begin() + dim, stride);
  Tensor out = x.alias(shape, strides, x.storage_offset());
  // out holds x's elements with a size-1 dim more: ∂L/∂x = g without it, squeeze(g)
  return record("unsqueeze", out, {x},
                [dim](const Tensor& g) -> Grads { return {squeeze(g, dim)}; });
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  dim = normalize_dim(dim, x.dim(), "squeeze");
  if (x.shape()[dim] != 1)
    fail("squeeze: dim {} of shape {} has size {}, not 1", dim, x.shape(), x.shape()[dim]);
  Shape shape = x.shape(), strides = x.strides();
  shape.erase(shape.begin() + dim);
  strides.erase(strides.begin() + dim);
  Tensor out = x.alias(shape, strides, x.storage_offset());
  // out holds x's elements without the size-1 dim: ∂L/∂x = g with it again, unsqueeze(g)
  return record("squeeze", out, {x},
                [dim](const Tensor& g) -> Grads { return {unsqueeze(g, dim)}; });
}

Tensor expand(const Tensor& x, const Shape& shape) {
  if (shape.size() < x.shape().size())
    fail("expand: cannot expand shape {} to fewer dims {}", x.shape(), shape);
  const std::size_t lead = shape.size() - x.shape().size();
  Shape out_shape(shape.size()), strides(shape.size(), 0);
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const int64_t from = i < lead ? 1 : x.shape()[i - lead];
    const int64_t to = shape[i] == -1 && i >= lead ? from : shape[i];
    if (from != to && from != 1)
      fail("expand: cannot expand shape {} to {} (dim {}: {} to {})", x.shape(), shape, i, from,
           to);
    if (to < 0)
      fail("expand: invalid size {} in {}: a size is 0 or more, or -1 to keep a dim of shape {}",
           to, shape, x.shape());
    out_shape[i] = to;
    if (i >= lead && from == to) strides[i] = x.strides()[i - lead];
  }
  numel(out_shape, "expand");  // a view too must count its elements in int64
  Tensor out = x.alias(out_shape, strides, x.storage_offset());
  // out[i] = x[i with 0 in the expanded dims]: each element of x feeds every element of out
  // along those dims, so ∂L/∂x = g summed over them (sum_to, as for broadcasting)
  return record("expand", out, {x}, [input_shape = saved(x.shape())](const Tensor& g) -> Grads {
    return {sum_to(g, input_shape)};
  });
}

}  // namespace tapegrad
