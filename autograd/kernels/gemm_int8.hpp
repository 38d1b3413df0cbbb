// Integer matrix products for int8 inference (a linear layer's weights quantized to int8):
//   C[m, n] = Σ_k A[m, k] · B[n, k]      A int8 [M, K] (activations), B int8 [N, K] (weights, in
//                                        Linear's [out, in] layout), C int32 [M, N]
// accumulated exactly in int32 (|A|, |B| <= 128: exact for K < 2^17).
//
// B is packed once (pack_int8_weights), as a model's weights are, for the AVX512-VNNI kernel:
// vpdpbusd multiplies 4 unsigned bytes by 4 signed bytes and adds the 4 products to an int32 lane,
// 64 products per instruction (an fp32 FMA does 16). Its left operand is unsigned, so the kernel
// feeds A + 128 (A's bytes with the sign bit flipped) and subtracts what the 128 added:
//   Σ_k (A[m, k] + 128) B[n, k] = C[m, n] + 128 Σ_k B[n, k]
// (the sums are kept with the packed weights). The packed layout: blocks of 16 rows of B
// (output channels), each a run of groups of 4 along K, one 64-byte vector per group; lane l of
// group g holds B[16 b + l, 4 g .. 4 g + 3]; rows and K are padded with zeros.
//
// Where the CPU has no VNNI, an AVX2 kernel reads the same packed weights: vpmaddwd multiplies
// pairs of int16 (both operands widened, no shift) and adds each pair into an int32 lane, 16
// products per instruction (gemm_int8.cpp says how its lanes are summed).
//
// gemm_int8 takes the fastest kernel this CPU runs (a runtime check: the binary runs on all of
// them); gemm_int8_reference is the plain loop on unpacked weights that the tests compare every
// kernel against.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace tapegrad::kernels {

struct PackedInt8Weights {
  int64_t rows = 0;          // N: output channels
  int64_t depth = 0;         // K
  int64_t padded_depth = 0;  // K rounded up to 4
  std::vector<int8_t> data;  // ceil(N / 16) blocks of padded_depth / 4 groups of 64 bytes
  // 128 Σ_k B[n, k]: what feeding A + 128 adds to C[m, n]; zeros to the end of the last block
  std::vector<int32_t> offsets;
};

// B [N, K] int8, rows ldb apart.
PackedInt8Weights pack_int8_weights(const int8_t* B, int64_t N, int64_t K, int64_t ldb);

// The kernels, fastest first; scalar is the reference loop on the weights unpacked.
enum class Int8Kernel { vnni, avx2, scalar };

// Whether this CPU runs `kernel`: vnni needs AVX512-VNNI with AVX512BW, avx2 AVX2; scalar runs
// everywhere.
bool cpu_runs(Int8Kernel kernel);

// The first kernel of the list that this CPU runs.
Int8Kernel fastest_int8_kernel();

// "AVX512-VNNI", "AVX2" or "scalar": for messages and the headers of benchmarks.
std::string_view name(Int8Kernel kernel);

// C [M, N] (rows ldc apart) = A [M, K] (rows lda apart) times the packed B transposed, on the
// fastest kernel.
void gemm_int8(int64_t M, const int8_t* A, int64_t lda, const PackedInt8Weights& B, int32_t* C,
               int64_t ldc);

// The same on a given kernel, which this CPU must run (an error otherwise).
void gemm_int8(Int8Kernel kernel, int64_t M, const int8_t* A, int64_t lda,
               const PackedInt8Weights& B, int32_t* C, int64_t ldc);

void gemm_int8_reference(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda,
                         const int8_t* B, int64_t ldb, int32_t* C, int64_t ldc);

}  // namespace tapegrad::kernels
