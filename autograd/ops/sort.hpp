// Ordering along one dim, as PyTorch: sort and topk give the values and, as int64, where each
// came from along the dim. Equal elements keep their order in x (both are stable) and a NaN sorts
// as larger than every number. The values are differentiable: the gradient goes back to the
// positions the indices name.
//   auto [top_logits, top_ids] = topk(logits, 50);  // the 50 largest along the last dim
//   auto [sorted, order] = sort(x, 0, /*descending=*/true);
#pragma once

#include "autograd/ops/reduce.hpp"
#include "autograd/tensor.hpp"

namespace tapegrad {

ValuesAndIndices sort(const Tensor& x, int64_t dim = -1, bool descending = false);
// The k largest elements along `dim` (the k smallest unless `largest`), the largest (smallest)
// first when `sorted`, else in the order in which they appear in x.
ValuesAndIndices topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true,
                      bool sorted = true);

}  // namespace tapegrad
