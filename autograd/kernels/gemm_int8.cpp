// The VNNI kernel keeps a tile of kTileRows rows of C by kTileBlocks packed blocks (64 output
// channels) in 16 int32 accumulator vectors; each group of 4 along K loads the tile's 4 weight
// vectors once and, per row of A, broadcasts the row's 4 bytes and runs 4 vpdpbusd. A's rows
// are copied with the sign bit flipped and K padded to 4 by the item that reads them.
#include "autograd/kernels/gemm_int8.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "autograd/error.hpp"
#include "autograd/kernels/parallel.hpp"
#include "autograd/kernels/static_count.hpp"

namespace tapegrad::kernels {
namespace {

constexpr int64_t kChannels = 16;  // output channels per packed block: the int32 lanes of a vector
constexpr int64_t kGroup = 4;      // bytes of K per lane and vpdpbusd
constexpr int64_t kTileRows = 4;
constexpr int64_t kTileBlocks = 4;

constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Byte (n, k) of the packed weights.
int64_t packed_index(const PackedInt8Weights& B, int64_t n, int64_t k) {
  return ((n / kChannels) * (B.padded_depth / kGroup) + k / kGroup) * kChannels * kGroup +
         (n % kChannels) * kGroup + k % kGroup;
}

// acc + in each int32 lane the 4 products of x's unsigned bytes and w's signed bytes: vpdpbusd.
// In assembly because GCC 12 copies the accumulator to and from another register around each
// _mm512_dpbusd_epi32 (two extra moves per product instruction: the kernel ran at a third of the
// speed).
__attribute__((target("avx512f,avx512vnni"))) inline __m512i dot_accumulate(__m512i acc, __m512i x,
                                                                            __m512i w) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w));
  return acc;
}

// Rows [0, Rows) of C at columns of blocks [first_block, first_block + Blocks): the accumulators
// of Σ_k (A + 128) B, less 128 Σ_k B, stored for the `columns` channels that exist from the
// tile's first one.
template <int64_t Rows, int64_t Blocks>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void vnni_tile(const uint8_t* a, int64_t lda,
                                                                      const PackedInt8Weights& B,
                                                                      int64_t first_block,
                                                                      int64_t columns, int32_t* C,
                                                                      int64_t ldc) {
  const int64_t groups = B.padded_depth / kGroup;
  const int8_t* weights = B.data.data() + first_block * groups * kChannels * kGroup;
  __m512i sums[Rows][Blocks];
  for (int64_t r = 0; r < Rows; ++r)
    for (int64_t t = 0; t < Blocks; ++t) sums[r][t] = _mm512_setzero_si512();
  for (int64_t g = 0; g < groups; ++g) {
    __m512i w[Blocks];
    for (int64_t t = 0; t < Blocks; ++t)
      w[t] = _mm512_loadu_si512(weights + (t * groups + g) * kChannels * kGroup);
    for (int64_t r = 0; r < Rows; ++r) {
      int32_t four_bytes;
      std::memcpy(&four_bytes, a + r * lda + g * kGroup, sizeof four_bytes);
      const __m512i x = _mm512_set1_epi32(four_bytes);
      for (int64_t t = 0; t < Blocks; ++t) sums[r][t] = dot_accumulate(sums[r][t], x, w[t]);
    }
  }
  for (int64_t t = 0; t < Blocks; ++t) {
    const int64_t first = (first_block + t) * kChannels;
    const int64_t valid = std::clamp<int64_t>(columns - t * kChannels, 0, kChannels);
    const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
    const __m512i offset = _mm512_loadu_si512(B.offsets.data() + first);  // 128 Σ_k B
    for (int64_t r = 0; r < Rows; ++r)
      _mm512_mask_storeu_epi32(C + r * ldc + t * kChannels, mask,
                               _mm512_sub_epi32(sums[r][t], offset));
  }
}

// The tiles of `rows` rows (at most kTileRows) over the column tiles [first_tile, end_tile).
template <int64_t Rows>
void vnni_rows(const uint8_t* a, int64_t lda, const PackedInt8Weights& B, int64_t first_tile,
               int64_t end_tile, int32_t* C, int64_t ldc) {
  const int64_t blocks = ceil_div(B.rows, kChannels);
  for (int64_t tile = first_tile; tile < end_tile; ++tile) {
    const int64_t first_block = tile * kTileBlocks;
    const int64_t columns = B.rows - first_block * kChannels;
    int32_t* c = C + first_block * kChannels;
    with_static_count<kTileBlocks>(blocks - first_block, [&]<int64_t Blocks>() {
      vnni_tile<Rows, Blocks>(a, lda, B, first_block, columns, c, ldc);
    });
  }
}

void vnni_tiles(int64_t rows, const uint8_t* a, int64_t lda, const PackedInt8Weights& B,
                int64_t first_tile, int64_t end_tile, int32_t* C, int64_t ldc) {
  with_static_count<kTileRows>(
      rows, [&]<int64_t Rows>() { vnni_rows<Rows>(a, lda, B, first_tile, end_tile, C, ldc); });
}

// to[k] = from[k] + 128 as an unsigned byte (the sign bit flipped) for k < K, and 0 up to
// padded (the padding meets zero weights).
__attribute__((target("avx512f,avx512bw"))) void shift_row(const int8_t* from, int64_t K,
                                                           int64_t padded, uint8_t* to) {
  const __m512i sign = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t k = 0; k < padded; k += 64) {
    const __mmask64 valid =
        _bzhi_u64(~uint64_t{0}, static_cast<unsigned>(std::clamp<int64_t>(K - k, 0, 64)));
    const __mmask64 inside =
        _bzhi_u64(~uint64_t{0}, static_cast<unsigned>(std::min<int64_t>(padded - k, 64)));
    _mm512_mask_storeu_epi8(to + k, inside,
                            _mm512_maskz_xor_epi64(0xFF, _mm512_maskz_loadu_epi8(valid, from + k),
                                                   _mm512_maskz_mov_epi8(valid, sign)));
  }
}

// Both kernels split C into items of kBlockRows rows by a tile of kTileChannels channels, so
// that the tile's weights (64 by K bytes) and the item's rows of A stay in L1. An item first
// copies its rows of A, as its kernel reads them, into its thread's buffer, rows `padded` apart
// (a 64th of the item's work, and no serial pass before the loop):
//   copy_row(from, K, padded, to)
// then multiplies them by the tile's weights:
//   multiply(rows, a, tile, c)      a: the copied rows, c: C at the item's first row
// For parallel_for, `products_per_element` products cost what one element of a map does (a load
// and a store): 32 for VNNI's 64 products an instruction, 16 for AVX2's 16.
constexpr int64_t kBlockRows = 64;
constexpr int64_t kTileChannels = kTileBlocks * kChannels;

template <class Copied, class CopyRow, class Multiply>
void for_each_item(int64_t M, const int8_t* A, int64_t lda, const PackedInt8Weights& B, int32_t* C,
                   int64_t ldc, int64_t products_per_element, CopyRow copy_row, Multiply multiply) {
  const int64_t K = B.depth, padded = B.padded_depth;
  const int64_t row_blocks = ceil_div(M, kBlockRows), tiles = ceil_div(B.rows, kTileChannels);
  parallel_for(row_blocks * tiles, kBlockRows * kTileChannels * padded / products_per_element,
               [&](int64_t begin, int64_t end) {
                 thread_local std::vector<Copied> copied;
                 copied.resize(static_cast<std::size_t>(kBlockRows * padded));
                 for (int64_t item = begin; item < end; ++item) {
                   const int64_t tile = item % tiles, first_row = item / tiles * kBlockRows;
                   const int64_t rows = std::min(kBlockRows, M - first_row);
                   for (int64_t r = 0; r < rows; ++r)
                     copy_row(A + (first_row + r) * lda, K, padded, copied.data() + r * padded);
                   multiply(rows, copied.data(), tile, C + first_row * ldc);
                 }
               });
}

// A as A + 128, kTileRows rows at a time.
void gemm_vnni(int64_t M, const int8_t* A, int64_t lda, const PackedInt8Weights& B, int32_t* C,
               int64_t ldc) {
  const int64_t padded = B.padded_depth;
  for_each_item<uint8_t>(M, A, lda, B, C, ldc, 32, shift_row,
                         [&](int64_t rows, const uint8_t* a, int64_t tile, int32_t* c) {
                           for (int64_t band = 0; band < rows; band += kTileRows)
                             vnni_tiles(std::min(kTileRows, rows - band), a + band * padded, padded,
                                        B, tile, tile + 1, c + band * ldc, ldc);
                         });
}

// The AVX2 kernel (CPUs without VNNI): vpmaddwd multiplies 16 pairs of int16 and adds each pair
// into an int32 lane, exactly (|product| <= 2^14). A's rows are widened to int16 by the item that
// reads them; the packed weights are widened as they are read, 16 bytes at a time: 4 channels c
// .. c + 3 by a group of 4 along K. Against a row's 4 values A[k .. k + 3] broadcast, lanes
//   2j     hold A[k]     B[c + j, k]     + A[k + 1] B[c + j, k + 1]
//   2j + 1 hold A[k + 2] B[c + j, k + 2] + A[k + 3] B[c + j, k + 3]
// so a channel's sum is its two lanes added: vphaddd does that for 8 channels at the end. No
// +128 shift: both operands are signed. A tile is kAvx2TileRows rows by 8 channels (an octet,
// half a packed block): 8 accumulators, 2 weight vectors and a broadcast in 11 of 16 registers.
constexpr int64_t kOctet = 8;
constexpr int64_t kAvx2TileRows = 4;

// acc + the products of x's and w's int16 lanes, each pair summed into an int32 lane: vpmaddwd,
// then vpaddd. The add is in assembly for the reason dot_accumulate is: GCC 12 otherwise copied
// every accumulator to another register and back on each step, and spilled one to the stack
// (the kernel ran at half the speed).
__attribute__((target("avx2"))) inline __m256i pairs_accumulate(__m256i acc, __m256i x, __m256i w) {
  const __m256i pair_sums = _mm256_madd_epi16(x, w);
  asm("vpaddd %1, %0, %0" : "+x"(acc) : "x"(pair_sums));
  return acc;
}

template <int64_t Rows>
__attribute__((target("avx2"))) void avx2_tile(const int16_t* a, int64_t lda,
                                               const PackedInt8Weights& B, int64_t octet,
                                               int64_t columns, int32_t* C, int64_t ldc) {
  const int64_t groups = B.padded_depth / kGroup;
  // The octet's first 4 channels at group g: 16 bytes at weights + g * 64.
  const int8_t* weights =
      B.data.data() + (octet / 2 * groups * kChannels + octet % 2 * kOctet) * kGroup;
  __m256i sums[Rows][2];
  for (int64_t r = 0; r < Rows; ++r) sums[r][0] = sums[r][1] = _mm256_setzero_si256();
  for (int64_t g = 0; g < groups; ++g) {
    const int8_t* group = weights + g * kChannels * kGroup;
    const __m256i w0 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group)));
    const __m256i w1 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group + 16)));
    for (int64_t r = 0; r < Rows; ++r) {
      int64_t four_values;
      std::memcpy(&four_values, a + r * lda + g * kGroup, sizeof four_values);
      const __m256i x = _mm256_set1_epi64x(four_values);
      sums[r][0] = pairs_accumulate(sums[r][0], x, w0);
      sums[r][1] = pairs_accumulate(sums[r][1], x, w1);
    }
  }
  // hadd gives channels [0 1 4 5 | 2 3 6 7]; the 64-bit permutation puts them in order.
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i store =
      _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(std::min(columns, kOctet))), lane);
  for (int64_t r = 0; r < Rows; ++r)
    _mm256_maskstore_epi32(
        C + r * ldc, store,
        _mm256_permute4x64_epi64(_mm256_hadd_epi32(sums[r][0], sums[r][1]), 0b11'01'10'00));
}

// to[k] = from[k] for k < K, and 0 up to padded (the padding meets zero weights).
void widen_row(const int8_t* from, int64_t K, int64_t padded, int16_t* to) {
  for (int64_t k = 0; k < K; ++k) to[k] = from[k];
  std::fill(to + K, to + padded, int16_t{0});
}

// A widened to int16, kAvx2TileRows rows by an octet at a time.
void gemm_avx2(int64_t M, const int8_t* A, int64_t lda, const PackedInt8Weights& B, int32_t* C,
               int64_t ldc) {
  const int64_t padded = B.padded_depth, octets = ceil_div(B.rows, kOctet);
  constexpr int64_t kTileOctets = kTileChannels / kOctet;
  for_each_item<int16_t>(M, A, lda, B, C, ldc, 16, widen_row,
                         [&](int64_t rows, const int16_t* a, int64_t tile, int32_t* c) {
                           const int64_t end_octet = std::min(octets, (tile + 1) * kTileOctets);
                           for (int64_t band = 0; band < rows; band += kAvx2TileRows)
                             with_static_count<kAvx2TileRows>(rows - band, [&]<int64_t Rows>() {
                               for (int64_t octet = tile * kTileOctets; octet < end_octet; ++octet)
                                 avx2_tile<Rows>(a + band * padded, padded, B, octet,
                                                 B.rows - octet * kOctet,
                                                 c + band * ldc + octet * kOctet, ldc);
                             });
                         });
}

void check_sizes(std::string_view op, int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb,
                 int64_t ldc) {
  if (M < 0 || N < 0 || K < 0) fail("{}: negative size (M={}, N={}, K={})", op, M, N, K);
  if (lda < K || ldb < K || ldc < N)
    fail(
        "{}: leading dimension too small (M={}, N={}, K={}, lda={} and ldb={} need >= {}, "
        "ldc={} needs >= {})",
        op, M, N, K, lda, ldb, K, ldc, N);
}

}  // namespace

bool cpu_runs(Int8Kernel kernel) {
  static const bool vnni = __builtin_cpu_supports("avx512f") &&
                           __builtin_cpu_supports("avx512bw") &&
                           __builtin_cpu_supports("avx512vnni");
  static const bool avx2 = __builtin_cpu_supports("avx2");
  switch (kernel) {
    case Int8Kernel::vnni:
      return vnni;
    case Int8Kernel::avx2:
      return avx2;
    case Int8Kernel::scalar:
      return true;
  }
  return false;
}

Int8Kernel fastest_int8_kernel() {
  for (const Int8Kernel kernel : {Int8Kernel::vnni, Int8Kernel::avx2})
    if (cpu_runs(kernel)) return kernel;
  return Int8Kernel::scalar;
}

std::string_view name(Int8Kernel kernel) {
  switch (kernel) {
    case Int8Kernel::vnni:
      return "AVX512-VNNI";
    case Int8Kernel::avx2:
      return "AVX2";
    case Int8Kernel::scalar:
      return "scalar";
  }
  return "?";
}

PackedInt8Weights pack_int8_weights(const int8_t* B, int64_t N, int64_t K, int64_t ldb) {
  check_sizes("pack_int8_weights", 0, N, K, K, ldb, N);
  PackedInt8Weights packed;
  packed.rows = N;
  packed.depth = K;
  packed.padded_depth = ceil_div(K, kGroup) * kGroup;
  const int64_t padded_rows = ceil_div(N, kChannels) * kChannels;
  packed.data.assign(static_cast<std::size_t>(padded_rows * packed.padded_depth), 0);
  packed.offsets.assign(static_cast<std::size_t>(padded_rows), 0);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < K; ++k) {
      packed.data[packed_index(packed, n, k)] = B[n * ldb + k];
      packed.offsets[n] += 128 * int32_t{B[n * ldb + k]};
    }
  }
  return packed;
}

void gemm_int8(int64_t M, const int8_t* A, int64_t lda, const PackedInt8Weights& B, int32_t* C,
               int64_t ldc) {
  static const Int8Kernel fastest = fastest_int8_kernel();
  gemm_int8(fastest, M, A, lda, B, C, ldc);
}

void gemm_int8(Int8Kernel kernel, int64_t M, const int8_t* A, int64_t lda,
               const PackedInt8Weights& B, int32_t* C, int64_t ldc) {
  check_sizes("gemm_int8", M, B.rows, B.depth, lda, B.depth, ldc);
  if (!cpu_runs(kernel)) fail("gemm_int8: this CPU does not run the {} kernel", name(kernel));
  if (M == 0 || B.rows == 0) return;
  switch (kernel) {
    case Int8Kernel::vnni:
      return gemm_vnni(M, A, lda, B, C, ldc);
    case Int8Kernel::avx2:
      return gemm_avx2(M, A, lda, B, C, ldc);
    case Int8Kernel::scalar: {
      std::vector<int8_t> unpacked(static_cast<std::size_t>(B.rows * B.depth));
      for (int64_t n = 0; n < B.rows; ++n)
        for (int64_t k = 0; k < B.depth; ++k)
          unpacked[n * B.depth + k] = B.data[packed_index(B, n, k)];
      return gemm_int8_reference(M, B.rows, B.depth, A, lda, unpacked.data(), B.depth, C, ldc);
    }
  }
}

void gemm_int8_reference(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda,
                         const int8_t* B, int64_t ldb, int32_t* C, int64_t ldc) {
  check_sizes("gemm_int8_reference", M, N, K, lda, ldb, ldc);
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      int32_t sum = 0;
      for (int64_t k = 0; k < K; ++k) sum += int32_t{A[m * lda + k]} * int32_t{B[n * ldb + k]};
      C[m * ldc + n] = sum;
    }
  }
}

}  // namespace tapegrad::kernels
