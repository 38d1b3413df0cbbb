// General matrix multiply: the kernel behind matmul, linear layers and attention.
//
// All matrices are row-major. For each operand, Transpose::Yes means the stored matrix is the
// transpose of the one that takes part in the product, so
//   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C
// where A is stored M x K (lda >= K) or, transposed, K x M (lda >= M); likewise for B; and C is
// M x N (ldc >= N). beta == 0 writes C without reading it, so NaN or garbage in C never leaks.
// gemm's epilogue finishes each element of C as it is stored, with no further pass over C:
//   C[i,j] = relu(alpha * (op(A) op(B))[i,j] + beta * C[i,j] + bias[j] + residual[i,j])
// bias (N elements), residual (M x N, with C's leading dimension) and relu each when asked for: a
// linear layer's bias and activation, and a residual connection's sum.
// Negative sizes or too small leading dimensions throw tapegrad::Error.
//
// gemm and gemm_batched are cache-blocked, SIMD and multithreaded (see gemm.cpp);
// gemm_reference is the plain triple loop the tests compare them against.
// All three are defined for float and double.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

enum class Transpose : bool { No = false, Yes = true };

template <class T>
struct Epilogue {
  const T* bias = nullptr;      // added to every row of C, or nothing when null
  bool relu = false;            // then max(x, 0), NaN staying NaN
  const T* residual = nullptr;  // added to C element for element (ldc apart), or nothing when null
};

template <class T>
void gemm(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, T alpha,
          const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc,
          Epilogue<T> epilogue = {});

// `batch` independent products: problem i uses A + i * stride_a, B + i * stride_b and
// C + i * stride_c. A stride of 0 broadcasts A or B to every problem; the C matrices must not
// overlap.
template <class T>
void gemm_batched(Transpose trans_a, Transpose trans_b, int64_t batch, int64_t M, int64_t N,
                  int64_t K, T alpha, const T* A, int64_t lda, int64_t stride_a, const T* B,
                  int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc, int64_t stride_c);

template <class T>
void gemm_reference(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, T alpha,
                    const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

}  // namespace tapegrad::kernels
