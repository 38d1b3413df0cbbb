// Products of small tiles that sit in L1/L2, the building block of the fused attention:
//   C[M, N] (+)= A[M, K] · B[K, N]
// A is read one element at a time and broadcast, through a row and a column stride, so a
// transposed A (Pᵀ, dSᵀ) costs nothing; B and C are row-major with contiguous rows. N is a
// multiple of the SIMD width and M a multiple of kTileRows: callers pad their tiles with zeros.
//
// The micro-kernel keeps an MR x NV-vector block of C in registers, and each step along K loads
// NV vectors of B, broadcasts MR elements of A and issues MR * NV FMAs (MR * NV <= 24, so that
// the block, the B vectors and a broadcast fit AVX-512's 32 registers).
#pragma once

#include <cstdint>

#include "autograd/kernels/simd.hpp"

namespace tapegrad::kernels {

// Rows of A and C come in groups of this many.
inline constexpr int64_t kTileRows = 8;

enum class TileUpdate : bool { Overwrite, Accumulate };

// Element (i, k) of A is a[i * row_stride + k * col_stride].
template <class T>
struct TileOperand {
  const T* a;
  int64_t row_stride;
  int64_t col_stride;
};

namespace detail {

template <int64_t MR, int64_t NV, TileUpdate Update, class T>
void tile_micro_kernel(int64_t K, const TileOperand<T>& a, const T* b, int64_t ldb, T* c,
                       int64_t ldc) {
  using V = Batch<T>;
  constexpr int64_t W = kWidth<V>;
  V sum[MR][NV];
#pragma GCC unroll 8
  for (int64_t r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int64_t v = 0; v < NV; ++v)
      sum[r][v] =
          Update == TileUpdate::Accumulate ? V::load_unaligned(c + r * ldc + v * W) : V(T(0));
  for (int64_t k = 0; k < K; ++k) {
    V b_row[NV];
#pragma GCC unroll 4
    for (int64_t v = 0; v < NV; ++v) b_row[v] = V::load_unaligned(b + k * ldb + v * W);
    const T* a_column = a.a + k * a.col_stride;
#pragma GCC unroll 8
    for (int64_t r = 0; r < MR; ++r) {
      const V a_element(a_column[r * a.row_stride]);
#pragma GCC unroll 4
      for (int64_t v = 0; v < NV; ++v) sum[r][v] = xsimd::fma(a_element, b_row[v], sum[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int64_t r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int64_t v = 0; v < NV; ++v) sum[r][v].store_unaligned(c + r * ldc + v * W);
}

// The columns [column, column + NV * W) of C, every row.
template <int64_t NV, TileUpdate Update, class T>
void tile_column_block(int64_t M, int64_t K, const TileOperand<T>& a, const T* b, int64_t ldb, T* c,
                       int64_t ldc) {
  constexpr int64_t MR = NV == 4 ? 4 : kTileRows;
  static_assert(kTileRows % MR == 0 && MR * NV <= 24);
  for (int64_t i = 0; i < M; i += MR) {
    const TileOperand<T> rows{a.a + i * a.row_stride, a.row_stride, a.col_stride};
    tile_micro_kernel<MR, NV, Update>(K, rows, b, ldb, c + i * ldc, ldc);
  }
}

}  // namespace detail

// C[M, N] = A · B (Overwrite) or C += A · B (Accumulate); M % kTileRows == 0, N % kWidth == 0.
template <TileUpdate Update, class T>
void tile_product(int64_t M, int64_t N, int64_t K, const TileOperand<T>& a, const T* b, int64_t ldb,
                  T* c, int64_t ldc) {
  constexpr int64_t W = kWidth<Batch<T>>;
  int64_t j = 0;
  for (; j + 4 * W <= N; j += 4 * W)
    detail::tile_column_block<4, Update>(M, K, a, b + j, ldb, c + j, ldc);
  switch ((N - j) / W) {
    case 3:
      detail::tile_column_block<3, Update>(M, K, a, b + j, ldb, c + j, ldc);
      break;
    case 2:
      detail::tile_column_block<2, Update>(M, K, a, b + j, ldb, c + j, ldc);
      break;
    case 1:
      detail::tile_column_block<1, Update>(M, K, a, b + j, ldb, c + j, ldc);
      break;
    default:
      break;
  }
}

// The plain triple loop the tests compare tile_product against.
template <TileUpdate Update, class T>
void tile_product_reference(int64_t M, int64_t N, int64_t K, const TileOperand<T>& a, const T* b,
                            int64_t ldb, T* c, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      T sum = Update == TileUpdate::Accumulate ? c[i * ldc + j] : T(0);
      for (int64_t k = 0; k < K; ++k)
        sum += a.a[i * a.row_stride + k * a.col_stride] * b[k * ldb + j];
      c[i * ldc + j] = sum;
    }
}

}  // namespace tapegrad::kernels
