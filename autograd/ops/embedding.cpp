#include "autograd/ops/embedding.hpp"

#include <algorithm>

#include "autograd/factories.hpp"
#include "autograd/kernels/functors.hpp"
#include "autograd/kernels/map.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

void check_indices(const Tensor& weight, const Tensor& ids) {
  const int64_t* p = ids.data<int64_t>();
  const int64_t num = weight.shape()[0];
  const auto bad = std::find_if(p, p + ids.numel(), [num](int64_t i) { return i < 0 || i >= num; });
  if (bad != p + ids.numel())
    fail(
        "embedding: index {} at position {} of indices {} is out of range for a table of {} rows "
        "(weight shape {})",
        *bad, unravel_index(bad - p, ids.shape()), ids.shape(), num, weight.shape());
}

// padding_idx in [0, num), or -1 for none.
int64_t normalize_padding_idx(const EmbeddingOptions& options, const Tensor& weight) {
  if (!options.padding_idx) return -1;
  const int64_t num = weight.shape()[0], padding_idx = *options.padding_idx;
  if (padding_idx < -num || padding_idx >= num)
    fail("embedding: padding_idx {} is out of range for a table of {} rows (weight shape {})",
         padding_idx, num, weight.shape());
  return padding_idx < 0 ? padding_idx + num : padding_idx;
}

}  // namespace

Tensor embedding(const Tensor& weight, const Tensor& indices, EmbeddingOptions options) {
  if (weight.dim() != 2)
    fail("embedding: weight must be 2-D [num, dim], got shape {}", weight.shape());
  if (indices.dtype() != kInt64)
    fail("embedding: indices must be int64, got {} of shape {}", indices.dtype(), indices.shape());
  const int64_t padding_idx = normalize_padding_idx(options, weight);
  const Tensor ids = contiguous(indices.detach());
  check_indices(weight, ids);
  const int64_t dim = weight.shape()[1];
  Shape out_shape = indices.shape();
  out_shape.push_back(dim);
  const Tensor table = contiguous_values(weight);
  Tensor out = Tensor::empty(out_shape, weight.dtype());
  dispatch_all(weight.dtype(), [&]<class T>() {
    const int64_t* id = ids.data<int64_t>();
    const T* rows = table.data<T>();
    T* out_rows = out.data<T>();
    const int64_t count = ids.numel();
    for (int64_t k = 0; k < count; ++k) std::copy_n(rows + id[k] * dim, dim, out_rows + k * dim);
  });
  // out[k] = weight[indices[k]], a copy of one row, so
  //   ∂out[k]/∂weight[r] = I if indices[k] = r, else 0
  //   ∂L/∂weight[r] = Σ_{k : indices[k] = r} g[k]
  // a scatter-add of g's rows into a zero table: a row looked up twice gets both, a row never
  // looked up 0, and padding_idx's row 0 (as PyTorch: it is never trained)
  return record("embedding", out, {weight},
                [ids, padding_idx, weight_shape = saved(weight.shape())](const Tensor& g) -> Grads {
                  const Tensor gc = contiguous(g);
                  Tensor grad = zeros(weight_shape, {.dtype = g.dtype()});
                  const int64_t dim = weight_shape[1];
                  dispatch_floating(g.dtype(), "embedding", [&]<class T>() {
                    const int64_t* id = ids.data<int64_t>();
                    const T* from = gc.data<T>();
                    T* rows = grad.data<T>();
                    const int64_t count = ids.numel();
                    for (int64_t k = 0; k < count; ++k) {
                      if (id[k] == padding_idx) continue;
                      T* row = rows + id[k] * dim;
                      kernels::binary_row(row, 1, from + k * dim, 1, row, dim, kernels::Add{});
                    }
                  });
                  return {grad};
                });
}

}  // namespace tapegrad
