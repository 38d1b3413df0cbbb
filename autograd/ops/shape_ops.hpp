// Shape ops. The views (reshape of a contiguous tensor, view, transpose, permute, unsqueeze,
// squeeze, expand) share the input's storage and copy nothing. Picking parts along a dim
// (narrow, slice, split, index_select) is in indexing.hpp; cat and stack are in join.hpp.
#pragma once

#include <vector>

#include "autograd/tensor.hpp"

namespace tapegrad {

Tensor view(const Tensor& x, Shape shape);     // contiguous x only; one size may be -1
Tensor reshape(const Tensor& x, Shape shape);  // a view when x is contiguous, else a copy
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& x, const Shape& dims);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);        // dim must have size 1
Tensor expand(const Tensor& x, const Shape& shape);  // broadcast view; -1 keeps a size

}  // namespace tapegrad
