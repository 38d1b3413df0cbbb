#include "autograd/ops/matmul.hpp"

#include <optional>

#include "autograd/kernels/gemm.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/ops/reduce.hpp"
#include "autograd/ops/shape_ops.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

using kernels::Transpose;

// How gemm reads one operand without copying it: a transposed view is read as Transpose::Yes,
// and the batch dims, once broadcast, must step by a single stride.
struct MatrixOperand {
  Tensor values;  // holds the memory alive
  Transpose transpose = Transpose::No;
  int64_t leading_dim = 0;
  int64_t batch_stride = 0;
};

// Strides of x seen as `batch` + its own last two dims, with 0 along broadcast batch dims.
Shape expanded_strides(const Tensor& x, const Shape& batch) {
  Shape strides(batch.size() + 2, 0);
  const std::size_t lead = batch.size() + 2 - x.shape().size();
  for (std::size_t d = lead; d < strides.size(); ++d)
    if (d >= batch.size() || x.shape()[d - lead] == batch[d]) strides[d] = x.strides()[d - lead];
  return strides;
}

// The single stride that walks all batch dims in row-major order, if there is one.
std::optional<int64_t> flat_batch_stride(const Shape& batch, const Shape& strides) {
  std::optional<int64_t> flat;
  int64_t expected = 0;
  for (std::size_t d = batch.size(); d-- > 0;) {
    if (batch[d] == 1) continue;
    if (!flat) {
      flat = strides[d];
    } else if (strides[d] != expected) {
      return std::nullopt;
    }
    expected = strides[d] * batch[d];
  }
  return flat.value_or(0);
}

MatrixOperand as_operand(Tensor x, const Shape& batch) {
  for (int attempt = 0;; ++attempt) {
    const Shape strides = expanded_strides(x, batch);
    const std::size_t rows_dim = batch.size(), cols_dim = batch.size() + 1;
    const int64_t rows = x.shape()[x.dim() - 2], cols = x.shape()[x.dim() - 1];
    const std::optional<int64_t> batch_stride = flat_batch_stride(batch, strides);
    if (batch_stride) {
      if (strides[cols_dim] == 1 || cols == 1)
        return {x, Transpose::No, std::max(cols, rows == 1 ? cols : strides[rows_dim]),
                *batch_stride};
      if (strides[rows_dim] == 1 || rows == 1)
        return {x, Transpose::Yes, std::max(rows, cols == 1 ? rows : strides[cols_dim]),
                *batch_stride};
    }
    // Neither layout fits: copy, first as is, then broadcast to the full batch.
    x = attempt == 0 ? contiguous(x) : contiguous(expand(x, [&] {
      Shape full = batch;
      full.push_back(rows);
      full.push_back(cols);
      return full;
    }()));
  }
}

// a: [..., M, K], b: [..., K, N] (both at least 2-D), off the tape.
Tensor batched_product(const Tensor& a, const Tensor& b) {
  const Shape batch = broadcast_shapes(Shape(a.shape().begin(), a.shape().end() - 2),
                                       Shape(b.shape().begin(), b.shape().end() - 2), "matmul");
  const int64_t M = a.shape()[a.dim() - 2], K = a.shape()[a.dim() - 1], N = b.shape()[b.dim() - 1];
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = Tensor::empty(out_shape, a.dtype());
  const int64_t batch_count = numel(batch);
  dispatch_floating(a.dtype(), "matmul", [&]<class T>() {
    const MatrixOperand lhs = as_operand(a, batch), rhs = as_operand(b, batch);
    kernels::gemm_batched<T>(lhs.transpose, rhs.transpose, batch_count, M, N, K, T(1),
                             lhs.values.template data<T>(), lhs.leading_dim, lhs.batch_stride,
                             rhs.values.template data<T>(), rhs.leading_dim, rhs.batch_stride, T(0),
                             out.data<T>(), N, M * N);
  });
  return out;
}

// x with a size-1 dim inserted at `dim`, off the tape.
Tensor insert_unit_dim(const Tensor& x, int64_t dim) {
  Shape shape = x.shape(), strides = x.strides();
  shape.insert(shape.begin() + dim, 1);
  strides.insert(strides.begin() + dim, 1);
  return x.alias(shape, strides, x.storage_offset());
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (a.dim() == 0 || b.dim() == 0)
    fail("matmul: both operands need at least 1 dim, got shapes {} and {}", a.shape(), b.shape());
  if (a.dtype() != b.dtype())
    fail("matmul: dtypes differ ({} and {}) for shapes {} and {}", a.dtype(), b.dtype(), a.shape(),
         b.shape());
  if (a.dim() > 2 && b.dim() == 2 && a.size(-1) == b.size(0) && a.numel() > 0) {
    // [..., M, K] @ [K, N] is one [(... M), K] @ [K, N] product: one GEMM, and one for b's gradient
    Shape out_shape = a.shape();
    out_shape.back() = b.size(1);
    return reshape(matmul(reshape(a, {a.numel() / a.size(-1), a.size(-1)}), b), out_shape);
  }
  const Tensor a2 = a.dim() == 1 ? insert_unit_dim(a.detach(), 0) : a.detach();
  const Tensor b2 = b.dim() == 1 ? insert_unit_dim(b.detach(), 1) : b.detach();
  const int64_t K = a2.shape()[a2.dim() - 1];
  if (b2.shape()[b2.dim() - 2] != K)
    fail("matmul: shapes {} and {} do not match ({} != {})", a.shape(), b.shape(), K,
         b2.shape()[b2.dim() - 2]);
  const Tensor product = batched_product(a2, b2);
  Shape out_shape(product.shape().begin(), product.shape().end() - 2);
  if (a.dim() > 1) out_shape.push_back(product.shape()[product.dim() - 2]);
  if (b.dim() > 1) out_shape.push_back(product.shape()[product.dim() - 1]);
  const Tensor out = product.alias(out_shape, contiguous_strides(out_shape), 0);
  // Per batch item, C = A B with A [M, K], B [K, N], C [M, N]: C_mn = Σ_k A_mk·B_kn, so
  //   ∂L/∂A_mk = Σ_n G_mn·B_kn = (G Bᵀ)_mk      dA = G Bᵀ   [M, N] @ [N, K] = [M, K]
  //   ∂L/∂B_kn = Σ_m A_mk·G_mn = (Aᵀ G)_kn      dB = Aᵀ G   [K, M] @ [M, N] = [K, N]
  // An operand broadcast along batch dims fed every item there: its gradients are summed over
  // them (sum_to). A 1-D a was [1, K] and a 1-D b [K, 1]: their gradients drop that dim again.
  return record(
      "matmul", out, {a, b},
      [a_shape = saved(a.shape()), b_shape = saved(b.shape()), a2, b2,
       product_shape = saved(product.shape())](const Tensor& g) -> Grads {
        const Tensor g2 = reshape(g, product_shape);
        const Tensor ga = matmul(g2, transpose(b2, -1, -2));
        const Tensor gb = matmul(transpose(a2, -1, -2), g2);
        return {reshape(sum_to(ga, a2.shape()), a_shape), reshape(sum_to(gb, b2.shape()), b_shape)};
      });
}

}  // namespace tapegrad
