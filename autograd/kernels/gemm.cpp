// GEMM, blocked as in GotoBLAS/BLIS, seen from row-major C:
//
//   for each block of MC rows of C:
//     for each slice of KC along K (slices of equal depth):
//       for each block of NC columns of C:
//         pack B[slice, columns] into micro-panels of NR columns        (the B block, in L2)
//         for each micro-panel of MR rows of A[rows, slice]             (in L1; packed for the
//           for each B micro-panel:                                      first column block)
//             micro-kernel: the MR x NR tile of C, accumulated in registers
//
// NR is two SIMD vectors. The micro-kernel keeps its tile in 2 * MR vector registers; each step
// along K loads two vectors of B, broadcasts MR elements of A and issues 2 * MR FMAs. With
// AVX-512 the float tile is 8 x 32 (6, 10, 12 and 14 rows measured slower); with 16 vector
// registers (AVX2, SSE) it is 6 x 2 vectors.
// Packing reads op(A) and op(B) through strides, so a transposed operand is never copied whole.
// A micro-panels keep the orientation of A's storage, which makes packing them a contiguous copy
// either way (the kernel is compiled for both). Panels are padded with zeros, so the kernel always
// computes a whole tile; only the store of an edge tile is partial. Where a copy would buy nothing
// (a row-major A whose whole panels serve a single column block), the kernel reads A in place.
// The epilogue (bias, residual, relu) rides on the stores of the micro-kernel: bias and residual
// join in the first K slice, relu in the last, so C is never passed over again.
// Threads (thread_pool.hpp) split C into a grid of independent blocks (gemm_batched: the batch).
// Measurements behind these choices, and ideas that measured no better: docs/gemm.md.
#include "autograd/kernels/gemm.hpp"

#include "autograd/error.hpp"
#include "autograd/kernels/functors.hpp"
#include "autograd/kernels/parallel.hpp"
#include "autograd/kernels/static_count.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace tapegrad::kernels {
namespace {

constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
constexpr int64_t round_up(int64_t a, int64_t multiple) { return ceil_div(a, multiple) * multiple; }

// The micro-tile needs 2 * MR accumulators, two vectors of B and one broadcast element of A.
constexpr int kVectorRegisters = XSIMD_WITH_AVX512F ? 32 : 16;

template <class T>
struct Blocking {
  using Batch = xsimd::batch<T>;
  static constexpr int64_t lanes = Batch::size;
  static constexpr int64_t mr = kVectorRegisters >= 32 ? 8 : 6;  // micro-tile rows
  static constexpr int64_t nr = 2 * lanes;                       // micro-tile columns
  // Depth of a K slice, so that an A micro-panel (mr x depth) sits in L1: mr x 4 KiB for a
  // row-major A, mr x 1.5 KiB for a transposed one (measured: the shapes with K = 1024 gain 2-5%
  // from one slice; the weight gradients, K = 4096 with A transposed, lose 10-15% with slices that
  // deep).
  static constexpr int64_t kc_rows = 4096 / sizeof(T);
  static constexpr int64_t kc_columns = 1536 / sizeof(T);
  // A row-major A slices down to this depth when that lets one B block hold all the columns.
  static constexpr int64_t kc_rows_min = 1024 / sizeof(T);
  static constexpr int64_t b_block_bytes = 1 << 20;  // the packed B block: half of L2
  static constexpr int64_t mc = 256 * mr;            // rows whose A micro-panels are kept (L3)

  // B block columns for slices of this depth: as many whole micro-panels as fit b_block_bytes,
  // then evened out over the blocks that `cols` columns need.
  static int64_t column_block(int64_t cols, int64_t depth) {
    const int64_t widest = std::max(nr, b_block_bytes / (depth * int64_t{sizeof(T)}) / nr * nr);
    return round_up(ceil_div(cols, ceil_div(cols, widest)), nr);
  }

  // Depth of the K slices (all equal) for `cols` columns of C. A row-major A takes shallower slices
  // where that lets a single B block hold every column: its panels are then read in place instead
  // of packed for reuse across column blocks (1024³ at 2 threads, 512 columns each: +4%).
  static int64_t slice_depth(int64_t K, int64_t cols, bool row_major_a) {
    const auto evened = [K](int64_t depth) { return ceil_div(K, ceil_div(K, depth)); };
    if (!row_major_a) return evened(kc_columns);
    const int64_t one_block_depth = b_block_bytes / (round_up(cols, nr) * int64_t{sizeof(T)});
    const int64_t deepest = evened(kc_rows);
    return deepest > one_block_depth && one_block_depth >= kc_rows_min ? evened(one_block_depth)
                                                                       : deepest;
  }
};

// Element (i, j) of op(X) is data[i * row_stride + j * col_stride].
template <class T>
struct MatrixView {
  const T* data;
  int64_t row_stride;
  int64_t col_stride;
  const T* at(int64_t i, int64_t j) const { return data + i * row_stride + j * col_stride; }
};

template <class T>
MatrixView<T> view(const T* data, int64_t ld, Transpose trans) {
  return trans == Transpose::Yes ? MatrixView<T>{data, 1, ld} : MatrixView<T>{data, ld, 1};
}

struct Range {
  int64_t begin;
  int64_t end;
  int64_t size() const { return end - begin; }
};

// A 64-byte aligned scratch array that only reallocates when asked for more than it holds.
template <class T>
class AlignedBuffer {
 public:
  T* reserve(int64_t count) {
    if (count > capacity_) {
      data_.reset(static_cast<T*>(::operator new(count * sizeof(T), kAlignment)));
      capacity_ = count;
    }
    return data_.get();
  }

 private:
  static constexpr std::align_val_t kAlignment{64};
  struct Free {
    void operator()(T* p) const { ::operator delete(p, kAlignment); }
  };
  std::unique_ptr<T, Free> data_;
  int64_t capacity_ = 0;
};

template <class T>
struct PackBuffers {
  AlignedBuffer<T> a;
  AlignedBuffer<T> b;
};

template <class T>
PackBuffers<T>& thread_pack_buffers() {
  thread_local PackBuffers<T> buffers;
  return buffers;
}

// Element (line w, depth k) of a packed micro-panel is at w * line_stride + k * depth_stride.
template <int64_t LineStride, int64_t DepthStride>
struct PanelLayout {
  static constexpr int64_t line_stride = LineStride;
  static constexpr int64_t depth_stride = DepthStride;
};

// A micro-panels keep the layout of op(A)'s storage, so that packing them is a contiguous copy:
// rows of kc_rows elements when A is not transposed, columns of mr elements when it is. The
// micro-kernel is compiled for both. B micro-panels are always depth-major: NR columns per step
// along K.
template <class T>
using RowMajorAPanel = PanelLayout<Blocking<T>::kc_rows, 1>;
template <class T>
using DepthMajorAPanel = PanelLayout<1, Blocking<T>::mr>;
template <class T>
using BPanel = PanelLayout<1, Blocking<T>::nr>;

#if XSIMD_WITH_AVX512F
// dst[c * ld_dst + r] = src[r * ld_src + c] for r, c < 16: a 16 x 16 float block transposed in
// registers, interleaving ever wider pieces of row pairs (32-bit, 64-bit, then 128-bit lanes
// twice): 64 shuffles for 256 elements instead of 256 scalar moves.
void transpose_16x16(const float* src, int64_t ld_src, float* dst, int64_t ld_dst) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * ld_src);
  for (int i = 0; i < 16; i += 2) {  // t[i], t[i+1]: rows i, i+1 interleaved by element
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  const auto pairs = [](__m512 x) { return _mm512_castps_pd(x); };
  for (int i = 0; i < 16; i += 4) {  // r[i + c]: rows i..i+3 at column c of each 128-bit lane
    r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(pairs(t[i]), pairs(t[i + 2])));
    r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pairs(t[i]), pairs(t[i + 2])));
    r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pairs(t[i + 1]), pairs(t[i + 3])));
    r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pairs(t[i + 1]), pairs(t[i + 3])));
  }
  for (int i = 0; i < 16; i += 8) {
    for (int j = 0; j < 4; ++j) {
      t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + 4 + j], 0x88);
      t[i + 4 + j] = _mm512_shuffle_f32x4(r[i + j], r[i + 4 + j], 0xdd);
    }
  }
  for (int j = 0; j < 8; ++j) {  // r[c]: column c, whole
    r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
  }
  for (int c = 0; c < 16; ++c) _mm512_storeu_ps(dst + c * ld_dst, r[c]);
}
#endif

// dst[k * ld_dst + w] = src[w * ld_src + k] for w < W, k < depth; by 16 x 16 blocks in registers
// where there are whole ones (float, AVX-512).
template <int64_t W, class T>
void transpose_lines(const T* src, int64_t ld_src, int64_t depth, T* dst, int64_t ld_dst) {
  int64_t k = 0;
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_same_v<T, float> && W % 16 == 0) {
    for (; k + 16 <= depth; k += 16) {
      for (int64_t w = 0; w < W; w += 16)
        transpose_16x16(src + w * ld_src + k, ld_src, dst + k * ld_dst + w, ld_dst);
    }
  }
#endif
  for (; k < depth; ++k) {
    for (int64_t w = 0; w < W; ++w) dst[k * ld_dst + w] = src[w * ld_src + k];
  }
}

// Packs `width` <= W lines of `depth` elements, element k of line w at
// src[w * line_stride + k * depth_stride], into a micro-panel with the given Layout, and zeroes
// lines width..W-1.
template <int64_t W, class Layout, class T>
void pack_panel(const T* src, int64_t line_stride, int64_t depth_stride, int64_t width,
                int64_t depth, T* dst) {
  constexpr int64_t dst_line = Layout::line_stride;
  constexpr int64_t dst_depth = Layout::depth_stride;
  if (depth_stride == 1 && dst_depth == 1) {
    for (int64_t w = 0; w < width; ++w) {
      std::copy_n(src + w * line_stride, depth, dst + w * dst_line);
    }
  } else if (line_stride == 1 && dst_line == 1 && width == W) {
    for (int64_t k = 0; k < depth; ++k) std::copy_n(src + k * depth_stride, W, dst + k * dst_depth);
  } else if (depth_stride == 1 && dst_line == 1 && width == W) {
    transpose_lines<W>(src, line_stride, depth, dst, dst_depth);  // a transposed B
  } else {
    for (int64_t w = 0; w < width; ++w) {
      for (int64_t k = 0; k < depth; ++k) {
        dst[w * dst_line + k * dst_depth] = src[w * line_stride + k * depth_stride];
      }
    }
  }
  for (int64_t w = width; w < W; ++w) {
    for (int64_t k = 0; k < depth; ++k) dst[w * dst_line + k * dst_depth] = T(0);
  }
}

// Packs slice x cols of op(B) into micro-panels of nr columns, spaced nr * depth apart.
template <class T>
void pack_b_block(const MatrixView<T>& b, Range slice, Range cols, T* dst) {
  constexpr int64_t nr = Blocking<T>::nr;
  for (int64_t j = cols.begin; j < cols.end; j += nr, dst += nr * slice.size()) {
    pack_panel<nr, BPanel<T>>(b.at(slice.begin, j), b.col_stride, b.row_stride,
                              std::min(nr, cols.end - j), slice.size(), dst);
  }
}

// How one K slice's products are stored into C: C = relu(alpha * sum + beta * C + bias + residual),
// where bias (one per column of C) and residual (one per element; either null: none) join on the
// first slice and relu on the last.
template <class T>
struct TileStore {
  T alpha;
  T beta;
  const T* bias;
  bool relu;
  const T* C;         // where C starts, to find an element's residual
  const T* residual;  // laid out as C, or null

  // The finished lane (a batch or one T) of C at c, which starts at column j of C.
  template <class V>
  V finish(V sum, const T* c, int64_t j) const {
    V result = sum * V(alpha);
    if (beta != T(0)) result = xsimd::fma(V(beta), load_lane<V>(c), result);
    if (bias != nullptr) result += load_lane<V>(bias + j);
    if (residual != nullptr) result += load_lane<V>(residual + (c - C));
    return relu ? Relu{}(result) : result;
  }
};

// The rows x cols corner of the C tile at column j0 of C stored as `store` says, from the mr x nr
// sum held as left and right halves of its rows.
template <class T, class Batch, int64_t mr>
void store_edge_tile(const Batch (&left)[mr], const Batch (&right)[mr], const TileStore<T>& store,
                     int64_t j0, T* c, int64_t ldc, int64_t rows, int64_t cols) {
  constexpr int64_t nr = Blocking<T>::nr;
  constexpr int64_t lanes = Blocking<T>::lanes;
  alignas(64) T sum[mr * nr];
  for (int64_t r = 0; r < mr; ++r) {
    left[r].store_aligned(sum + r * nr);
    right[r].store_aligned(sum + r * nr + lanes);
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < cols; ++j) {
      T* out = c + r * ldc + j;
      *out = store.finish(sum[r * nr + j], out, j0 + j);
    }
  }
}

// C tile (rows x cols, at most mr x nr, at column j0 of C) from A micro-panel * B micro-panel,
// stored as `store` says. The A panel's lines (rows or columns, as APanel says) start a_line_stride
// apart: its own line stride when packed, lda when read in place.
template <class APanel, class T>
void micro_kernel(int64_t depth, const T* a_panel, int64_t a_line_stride, const T* b_panel,
                  const TileStore<T>& store, int64_t j0, T* c, int64_t ldc, int64_t rows,
                  int64_t cols) {
  using Batch = typename Blocking<T>::Batch;
  constexpr int64_t mr = Blocking<T>::mr;
  constexpr int64_t nr = Blocking<T>::nr;
  constexpr int64_t lanes = Blocking<T>::lanes;
  // The tile of C is read or written only at the end: start fetching it now.
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j : {int64_t{0}, lanes, nr - 1}) __builtin_prefetch(c + r * ldc + j, 1);
  }
  Batch left[mr];   // columns [0, lanes) of each tile row
  Batch right[mr];  // columns [lanes, nr)
  for (int64_t r = 0; r < mr; ++r) left[r] = right[r] = Batch(T(0));

#pragma GCC unroll 4
  // Four steps along K per iteration: the loop's own adds and compare would otherwise take issue
  // slots from the FMAs (measured +3-5% on the transformer shapes and 1024³).
  for (int64_t k = 0; k < depth; ++k, a_panel += APanel::depth_stride, b_panel += nr) {
    const Batch b_left = Batch::load_aligned(b_panel);
    const Batch b_right = Batch::load_aligned(b_panel + lanes);
#pragma GCC unroll 16
    for (int64_t r = 0; r < mr; ++r) {
      const Batch a(a_panel[r * a_line_stride]);
      left[r] = xsimd::fma(a, b_left, left[r]);
      right[r] = xsimd::fma(a, b_right, right[r]);
    }
  }

  if (rows == mr && cols == nr) {
    for (int64_t r = 0; r < mr; ++r) {
      T* row = c + r * ldc;
      store.finish(left[r], row, j0).store_unaligned(row);
      store.finish(right[r], row + lanes, j0 + lanes).store_unaligned(row + lanes);
    }
    return;
  }
  store_edge_tile(left, right, store, j0, c, ldc, rows, cols);
}

// C[row_block, col_block] from op(A)[row_block, slice] * packed B block, stored as `store` says.
// The A micro-panels go to a_pack, panel_stride apart: when pack_a is set they are packed here, on
// first use, so that the kernel finds them in L1; otherwise they are the ones packed for an earlier
// column block. When no panel is used twice (one column block), they all take the same place
// (panel_stride 0), which stays in L1 instead of streaming megabytes of packed A through L2; and
// whole panels of a row-major A are not copied at all: the kernel reads their rows in place (+4-6%
// at N = 256, where a copy is used for only 8 tiles).
template <class APanel, class T>
void multiply_block(const MatrixView<T>& a, bool pack_a, Range row_block, Range slice,
                    Range col_block, T* a_pack, int64_t panel_stride, const T* b_pack,
                    const TileStore<T>& store, T* C, int64_t ldc) {
  constexpr int64_t mr = Blocking<T>::mr;
  constexpr int64_t nr = Blocking<T>::nr;
  const int64_t depth = slice.size();
  for (int64_t i = row_block.begin; i < row_block.end; i += mr, a_pack += panel_stride) {
    const int64_t rows = std::min(mr, row_block.end - i);
    const bool in_place = APanel::depth_stride == 1 && panel_stride == 0 && rows == mr;
    if (pack_a && !in_place) {
      pack_panel<mr, APanel>(a.at(i, slice.begin), a.row_stride, a.col_stride, rows, depth, a_pack);
    }
    const T* a_panel = in_place ? a.at(i, slice.begin) : a_pack;
    const int64_t a_line_stride = in_place ? a.row_stride : APanel::line_stride;
    for (int64_t j = col_block.begin; j < col_block.end; j += nr) {
      micro_kernel<APanel>(depth, a_panel, a_line_stride, b_pack + (j - col_block.begin) * depth,
                           store, j, C + i * ldc + j, ldc, rows, std::min(nr, col_block.end - j));
    }
  }
}

// The rows x cols block of C, on the calling thread, with A micro-panels laid out as APanel.
// K is cut into slices of equal depth.
template <class APanel, class T>
void gemm_block_with(const MatrixView<T>& a, const MatrixView<T>& b, Range rows, Range cols,
                     int64_t K, T alpha, T beta, const Epilogue<T>& epilogue, T* C, int64_t ldc) {
  using Sizes = Blocking<T>;
  constexpr int64_t kc = APanel::depth_stride == 1 ? Sizes::kc_rows : Sizes::kc_columns;
  const int64_t slice_depth = Sizes::slice_depth(K, cols.size(), APanel::depth_stride == 1);
  PackBuffers<T>& buffers = thread_pack_buffers<T>();
  const int64_t nc = Sizes::column_block(cols.size(), slice_depth);
  const bool reuse_a_panels = cols.size() > nc;
  const int64_t panel_stride = reuse_a_panels ? Sizes::mr * kc : 0;
  T* a_pack = buffers.a.reserve(
      reuse_a_panels ? round_up(std::min(Sizes::mc, rows.size()), Sizes::mr) * kc : Sizes::mr * kc);
  T* b_pack = buffers.b.reserve(round_up(std::min(nc, cols.size()), Sizes::nr) * slice_depth);

  for (int64_t ic = rows.begin; ic < rows.end; ic += Sizes::mc) {
    const Range row_block{ic, std::min(ic + Sizes::mc, rows.end)};
    for (int64_t pc = 0; pc < K; pc += slice_depth) {
      const Range slice{pc, std::min(pc + slice_depth, K)};
      const bool first_slice = pc == 0, last_slice = slice.end == K;
      const TileStore<T> store{alpha,
                               first_slice ? beta : T(1),
                               first_slice ? epilogue.bias : nullptr,
                               last_slice && epilogue.relu,
                               C,
                               first_slice ? epilogue.residual : nullptr};
      for (int64_t jc = cols.begin; jc < cols.end; jc += nc) {
        const Range col_block{jc, std::min(jc + nc, cols.end)};
        pack_b_block(b, slice, col_block, b_pack);
        multiply_block<APanel>(a, jc == cols.begin, row_block, slice, col_block, a_pack,
                               panel_stride, b_pack, store, C, ldc);
      }
    }
  }
}

// The rows x cols block of C, on the calling thread.
template <class T>
void gemm_block(const MatrixView<T>& a, const MatrixView<T>& b, Range rows, Range cols, int64_t K,
                T alpha, T beta, const Epilogue<T>& epilogue, T* C, int64_t ldc) {
  if (a.col_stride == 1) {
    gemm_block_with<RowMajorAPanel<T>>(a, b, rows, cols, K, alpha, beta, epilogue, C, ldc);
  } else {
    gemm_block_with<DepthMajorAPanel<T>>(a, b, rows, cols, K, alpha, beta, epilogue, C, ldc);
  }
}

// ---- a few rows ----
//
// C = op(A) op(B) with at most kFewRows rows, A row-major and B transposed (stored N x K): a
// linear layer on one token, as when decoding. Packing would copy all of B (the layer's weights)
// for a handful of products per element; here each element of C is the dot product of a row of
// A and a stored row of B, both contiguous, and each stored row of B is read once for every row
// of A. kColumns rows of B at a time give Rows x kColumns independent sums in registers.
constexpr int64_t kFewRows = 4;
constexpr int64_t kColumns = 4;

template <class T>
bool few_rows(const MatrixView<T>& a, const MatrixView<T>& b, int64_t M) {
  return M <= kFewRows && a.col_stride == 1 && b.row_stride == 1;
}

// C[0..Rows, j..j+Columns) as `store` says.
template <int64_t Rows, int64_t Columns, class T>
void few_rows_tile(const MatrixView<T>& a, const MatrixView<T>& b, int64_t K, int64_t j,
                   const TileStore<T>& store, T* C, int64_t ldc) {
  using Batch = xsimd::batch<T>;
  constexpr int64_t lanes = Batch::size;
  const int64_t vector_end = K / lanes * lanes;
  Batch sums[Rows][Columns];
  for (auto& row : sums)
    for (Batch& sum : row) sum = Batch(T(0));
  for (int64_t k = 0; k < vector_end; k += lanes) {
    Batch a_k[Rows];
    for (int64_t r = 0; r < Rows; ++r) a_k[r] = Batch::load_unaligned(a.at(r, k));
    for (int64_t c = 0; c < Columns; ++c) {
      const Batch b_k = Batch::load_unaligned(b.at(k, j + c));
      for (int64_t r = 0; r < Rows; ++r) sums[r][c] = xsimd::fma(a_k[r], b_k, sums[r][c]);
    }
  }
  for (int64_t r = 0; r < Rows; ++r) {
    for (int64_t c = 0; c < Columns; ++c) {
      T sum = xsimd::hadd(sums[r][c]);
      for (int64_t k = vector_end; k < K; ++k) sum += *a.at(r, k) * *b.at(k, j + c);
      T* out = C + r * ldc + j + c;
      *out = store.finish(sum, out, j + c);
    }
  }
}

template <int64_t Rows, class T>
void few_rows_block(const MatrixView<T>& a, const MatrixView<T>& b, Range cols, int64_t K,
                    const TileStore<T>& store, T* C, int64_t ldc) {
  int64_t j = cols.begin;
  for (; j + kColumns <= cols.end; j += kColumns)
    few_rows_tile<Rows, kColumns>(a, b, K, j, store, C, ldc);
  for (; j < cols.end; ++j) few_rows_tile<Rows, 1>(a, b, K, j, store, C, ldc);
}

// The columns `cols` of C, on the calling thread.
template <class T>
void few_rows_columns(const MatrixView<T>& a, const MatrixView<T>& b, int64_t M, Range cols,
                      int64_t K, const TileStore<T>& store, T* C, int64_t ldc) {
  with_static_count<kFewRows>(
      M, [&]<int64_t Rows>() { few_rows_block<Rows>(a, b, cols, K, store, C, ldc); });
}

// Part `index` of `extent` split into `parts` pieces whose sizes are multiples of `granule`.
Range split(int64_t extent, int64_t parts, int64_t index, int64_t granule) {
  const int64_t chunk = round_up(ceil_div(extent, parts), granule);
  return {std::min(extent, index * chunk), std::min(extent, (index + 1) * chunk)};
}

// C cut into row_parts x col_parts blocks, one per item of a parallel loop. The grid minimises
// the largest block, counted in whole micro-tiles, then the elements a block packs: its rows of A
// once, and its columns of B once per block of MC rows.
struct BlockGrid {
  int64_t row_parts;
  int64_t col_parts;
};

template <class T>
BlockGrid choose_block_grid(int64_t M, int64_t N, int64_t K, int64_t blocks) {
  using Sizes = Blocking<T>;
  BlockGrid best{1, blocks};
  std::pair<int64_t, int64_t> best_cost{INT64_MAX, INT64_MAX};
  for (int64_t row_parts = 1; row_parts <= blocks; ++row_parts) {
    if (blocks % row_parts != 0) continue;
    const int64_t col_parts = blocks / row_parts;
    const int64_t rows = round_up(ceil_div(M, row_parts), Sizes::mr);
    const int64_t cols = round_up(ceil_div(N, col_parts), Sizes::nr);
    const std::pair cost{rows * cols, rows * K + K * cols * ceil_div(rows, Sizes::mc)};
    if (cost < best_cost) {
      best = {row_parts, col_parts};
      best_cost = cost;
    }
  }
  return best;
}

// Problems smaller than this many flops per thread are not worth a thread's start-up cost, and
// smaller than kWakeFlopsPerThread not worth waking a sleeping worker (parallel.hpp).
constexpr double kFlopsPerThread = 1 << 21;
constexpr double kWakeFlopsPerThread = 8 * kFlopsPerThread;

Team team_for(double flops) {
  const double useful = std::max(1.0, flops / kFlopsPerThread);
  const int threads = static_cast<int>(std::min<double>(ThreadPool::instance().threads(), useful));
  return {threads, flops / threads >= kWakeFlopsPerThread};
}

// C = relu(beta * C + bias + residual) when the product is empty (K = 0) or alpha = 0.
template <class T>
void finish_without_product(int64_t M, int64_t N, T beta, const Epilogue<T>& epilogue, T* C,
                            int64_t ldc) {
  const TileStore<T> store{T(1), beta, epilogue.bias, epilogue.relu, C, epilogue.residual};
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      T* out = C + i * ldc + j;
      *out = store.finish(T(0), out, j);
    }
  }
}

// gemm on checked arguments, on up to `threads` threads.
template <class T>
void gemm_checked(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, T alpha,
                  const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc,
                  const Epilogue<T>& epilogue, Team team) {
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == T(0)) {
    finish_without_product(M, N, beta, epilogue, C, ldc);
    return;
  }
  const MatrixView<T> a = view(A, lda, trans_a);
  const MatrixView<T> b = view(B, ldb, trans_b);
  const int64_t threads = ThreadPool::instance().available(team);
  if (few_rows(a, b, M)) {
    const TileStore<T> store{alpha, beta, epilogue.bias, epilogue.relu, C, epilogue.residual};
    if (threads <= 1) return few_rows_columns(a, b, M, {0, N}, K, store, C, ldc);
    parallel_for_each_thread(
        threads, {static_cast<int>(threads), team.wake}, [&](ItemRanges& ranges) {
          while (const auto range = ranges.next())
            for (int64_t part = range->begin; part < range->end; ++part)
              few_rows_columns(a, b, M, split(N, threads, part, kColumns), K, store, C, ldc);
        });
    return;
  }
  if (threads <= 1) {
    gemm_block(a, b, {0, M}, {0, N}, K, alpha, beta, epilogue, C, ldc);
    return;
  }
  // One block of C per thread; a thread whose core is taken leaves its block to the others if it
  // has not started it (thread_pool.hpp).
  const BlockGrid grid = choose_block_grid<T>(M, N, K, threads);
  parallel_for_each_thread(
      threads, {static_cast<int>(threads), team.wake}, [&](ItemRanges& ranges) {
        while (const auto range = ranges.next()) {
          for (int64_t block = range->begin; block < range->end; ++block) {
            const Range rows = split(M, grid.row_parts, block / grid.col_parts, Blocking<T>::mr);
            const Range cols = split(N, grid.col_parts, block % grid.col_parts, Blocking<T>::nr);
            gemm_block(a, b, rows, cols, K, alpha, beta, epilogue, C, ldc);
          }
        }
      });
}

void check_arguments(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K,
                     int64_t lda, int64_t ldb, int64_t ldc) {
  if (M < 0 || N < 0 || K < 0) fail("gemm: negative size (M={}, N={}, K={})", M, N, K);
  const int64_t a_width = trans_a == Transpose::Yes ? M : K;
  const int64_t b_width = trans_b == Transpose::Yes ? K : N;
  if (lda < a_width || ldb < b_width || ldc < N) {
    fail(
        "gemm: leading dimension too small (M={}, N={}, K={}, lda={} needs >= {}, "
        "ldb={} needs >= {}, ldc={} needs >= {})",
        M, N, K, lda, a_width, ldb, b_width, ldc, N);
  }
}

}  // namespace

template <class T>
void gemm(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, T alpha,
          const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc,
          Epilogue<T> epilogue) {
  check_arguments(trans_a, trans_b, M, N, K, lda, ldb, ldc);
  // A product of a few rows does a few flops per element of B it reads: its time is that of
  // reading B, which the threads share as parallel_for shares elements.
  const Team team = M <= kFewRows ? team_for_work(M * N * K) : team_for(2.0 * M * N * K);
  gemm_checked(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, epilogue, team);
}

template <class T>
void gemm_batched(Transpose trans_a, Transpose trans_b, int64_t batch, int64_t M, int64_t N,
                  int64_t K, T alpha, const T* A, int64_t lda, int64_t stride_a, const T* B,
                  int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc, int64_t stride_c) {
  check_arguments(trans_a, trans_b, M, N, K, lda, ldb, ldc);
  if (batch < 0 || stride_a < 0 || stride_b < 0 || stride_c < 0) {
    fail("gemm_batched: negative batch or stride (batch={}, stride_a={}, stride_b={}, stride_c={})",
         batch, stride_a, stride_b, stride_c);
  }
  if (batch > 1 && M > 0 && N > 0 && stride_c < (M - 1) * ldc + N) {
    fail("gemm_batched: the C matrices overlap (M={}, N={}, ldc={}, stride_c={})", M, N, ldc,
         stride_c);
  }
  const double flops = 2.0 * M * N * K;
  const Team problem_team = team_for(flops);
  const Team batch_team = team_for(flops * batch);
  const int batch_threads = batch_team.threads;
  // One thread per problem, unless that leaves threads idle for a large part of the run.
  const bool split_batch =
      batch_threads > 1 && batch >= batch_threads &&
      (problem_team.threads == 1 || batch % batch_threads == 0 || batch >= 4 * batch_threads);
  const auto solve = [&](int64_t i, Team team) {
    gemm_checked(trans_a, trans_b, M, N, K, alpha, A + i * stride_a, lda, B + i * stride_b, ldb,
                 beta, C + i * stride_c, ldc, Epilogue<T>{}, team);
  };
  if (split_batch) {
    parallel_for_each_thread(batch, batch_team, [&](ItemRanges& ranges) {
      while (const auto range = ranges.next())
        for (int64_t i = range->begin; i < range->end; ++i) solve(i, Team{1, false});
    });
  } else {
    for (int64_t i = 0; i < batch; ++i) solve(i, problem_team);
  }
}

template <class T>
void gemm_reference(Transpose trans_a, Transpose trans_b, int64_t M, int64_t N, int64_t K, T alpha,
                    const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  check_arguments(trans_a, trans_b, M, N, K, lda, ldb, ldc);
  const MatrixView<T> a = view(A, lda, trans_a);
  const MatrixView<T> b = view(B, ldb, trans_b);
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      T sum = 0;
      for (int64_t k = 0; k < K; ++k) sum += *a.at(i, k) * *b.at(k, j);
      T& out = C[i * ldc + j];
      out = beta == T(0) ? alpha * sum : alpha * sum + beta * out;
    }
  }
}

#define TAPEGRAD_INSTANTIATE_GEMM(T)                                                            \
  template void gemm<T>(Transpose, Transpose, int64_t, int64_t, int64_t, T, const T*, int64_t,  \
                        const T*, int64_t, T, T*, int64_t, Epilogue<T>);                        \
  template void gemm_batched<T>(Transpose, Transpose, int64_t, int64_t, int64_t, int64_t, T,    \
                                const T*, int64_t, int64_t, const T*, int64_t, int64_t, T, T*,  \
                                int64_t, int64_t);                                              \
  template void gemm_reference<T>(Transpose, Transpose, int64_t, int64_t, int64_t, T, const T*, \
                                  int64_t, const T*, int64_t, T, T*, int64_t);

TAPEGRAD_INSTANTIATE_GEMM(float)
TAPEGRAD_INSTANTIATE_GEMM(double)
#undef TAPEGRAD_INSTANTIATE_GEMM

}  // namespace tapegrad::kernels
