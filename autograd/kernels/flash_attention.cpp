// The fused attention's forward and backward passes, and the plain references they are tested
// against. See flash_attention.hpp for the algorithm; shapes in the comments are per (batch, head).
//
// Tiles are padded with zeros to whole SIMD vectors of keys (and of head features) and to whole
// groups of kTileRows queries, so tile_product always works on full vectors. Padding keys are
// masked (-inf scores, zero weights); padding queries have zero q rows, and the backward gives
// them, like fully masked queries, a row shift of +inf so that their weights exp(s - shift) are 0.
#include "autograd/kernels/flash_attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "autograd/error.hpp"
#include "autograd/kernels/parallel.hpp"
#include "autograd/kernels/simd.hpp"
#include "autograd/kernels/tile_product.hpp"

namespace tapegrad::kernels {
namespace {

constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
constexpr int64_t round_up(int64_t a, int64_t multiple) { return ceil_div(a, multiple) * multiple; }

template <class T>
constexpr int64_t kLanes = kWidth<Batch<T>>;
template <class T>
constexpr T kInfinity = std::numeric_limits<T>::infinity();

// Scratch whose rows, whole SIMD vectors long, start on cache lines: no load or store splits.
template <class T>
using Buffer = std::vector<T, xsimd::aligned_allocator<T, 64>>;

// ---- dropout: a counter-based hash of (seed, b, h, i, j) ----

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15u;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

// 32-bit values in lanes of U (uint32_t or uint64_t, alone or in a batch), wrapped to 32 bits.
template <class U>
U wrap32(U x) {
  if constexpr (sizeof(Element<U>) == 8) {
    return x & U(0xffffffffu);
  } else {
    return x;
  }
}

// Chris Wellons' lowbias32: a bijection on 32-bit values with good avalanche.
template <class U>
U mix32(U x) {
  x ^= x >> 16;
  x = wrap32(x * U(0x7feb352du));
  x ^= x >> 15;
  x = wrap32(x * U(0x846ca68bu));
  return x ^ (x >> 16);
}

// Integer lanes as wide as T's: the hash runs in lanes that line up with the weights'.
template <class T>
using HashWord = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;

template <class H>
alignas(64) constexpr H kIota[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

// Weight (b, h, i, j) is kept iff the top 24 bits of mix32(j ^ key(b, h, i)) reach the threshold,
// where the row keys are 32 bits of splitmix64(splitmix64(seed) + row number). mix32 being a
// bijection, the weights of a row never share a hash, and rows have independent keys.
struct Dropout {
  uint64_t seed_hash = 0;
  uint32_t threshold = 0;  // ceil(p * 2^24): 2^24 + 1, never reached, when p == 1
  double keep_scale = 1;   // 1 / (1 - p), 0 when p == 1
};

Dropout dropout_of(const AttentionProblem& problem) {
  const double p = problem.dropout;
  return {splitmix64(problem.dropout_seed),
          static_cast<uint32_t>(std::min(std::ceil(p * 16777216.0), 16777217.0)),
          p >= 1 ? 0.0 : 1.0 / (1.0 - p)};
}

uint32_t dropout_key(const Dropout& dropout, const AttentionProblem& problem, int64_t b, int64_t h,
                     int64_t i) {
  const uint64_t row = static_cast<uint64_t>((b * problem.heads + h) * problem.queries + i);
  return static_cast<uint32_t>(splitmix64(dropout.seed_hash + row) >> 32);
}

// The dropout factors of keys j, j + 1, ... (one lane V of them) in the row with this key.
template <class V>
V dropout_factor_lane(const Dropout& dropout, uint32_t key, int64_t j) {
  using T = Element<V>;
  using H = HashWord<T>;
  const T keep = T(dropout.keep_scale);
  if constexpr (kWidth<V> == 1) {
    const H x = mix32(H(static_cast<uint32_t>(j) ^ key));
    return T(static_cast<double>(x >> 8)) >= T(dropout.threshold) ? keep : T(0);
  } else {
    using U = xsimd::batch<H, Arch>;
    using Signed = xsimd::batch<std::make_signed_t<H>, Arch>;
    static_assert(kWidth<U> == kWidth<V>);
    const U x = mix32((U(H(static_cast<uint32_t>(j))) + U::load_aligned(kIota<H>)) ^ U(H(key)));
    const V hash24 = xsimd::batch_cast<T>(xsimd::bitwise_cast<Signed>(x >> 8));
    return xsimd::select(hash24 >= V(T(dropout.threshold)), V(keep), V(T(0)));
  }
}

// to[c] = from[c] · the dropout factor of key first + c, for c in [0, n), in the row with this key.
template <class T>
void apply_dropout(const Dropout& dropout, uint32_t key, int64_t first, int64_t n, const T* from,
                   T* to) {
  for_each_lane<T>(n, [&]<class V>(Lane<V>, int64_t c) {
    store_lane(to + c, load_lane<V>(from + c) * dropout_factor_lane<V>(dropout, key, first + c));
  });
}

// ---- masking ----

// Whether keys after the query are masked: `causal`, or a window, which implies it.
bool banded(const AttentionProblem& problem) { return problem.causal || problem.window > 0; }

bool allowed(const AttentionProblem& problem, int64_t b, int64_t h, int64_t i, int64_t j) {
  const int64_t position = i + problem.query_offset;  // of query i, among the keys
  if (banded(problem) && j > position) return false;
  if (problem.window > 0 && j <= position - problem.window) return false;
  return problem.mask.data == nullptr || problem.mask.row(b, h, i)[j * problem.mask.column_stride];
}

// The keys [begin, end) that queries [first_query, first_query + rows) may attend to at most:
// those before the last query's (causal) and from the first query's window on.
struct KeyRange {
  int64_t begin, end;
};
KeyRange key_range(const AttentionProblem& problem, int64_t first_query, int64_t rows) {
  const int64_t first = first_query + problem.query_offset;  // the first query's position
  return {problem.window > 0 ? std::max<int64_t>(0, first - problem.window + 1) : 0,
          banded(problem) ? std::clamp<int64_t>(first + rows, 0, problem.keys) : problem.keys};
}

// The queries [begin, end) that may attend to keys [first_key, first_key + keys) at all: from the
// first key on (causal) and up to the last key's window.
struct QueryRange {
  int64_t begin, end;
};
QueryRange query_range(const AttentionProblem& problem, int64_t first_key, int64_t keys) {
  // query i sits at position i + query_offset among the keys
  const auto query = [&](int64_t position) {
    return std::clamp<int64_t>(position - problem.query_offset, 0, problem.queries);
  };
  return {banded(problem) ? query(first_key) : 0,
          problem.window > 0 ? query(first_key + keys - 1 + problem.window) : problem.queries};
}

// The scores s[r][c] (r < rows, c < padded_keys, rows lds apart) of queries first_query + r
// against keys first_key + c set to -inf where the query may not attend or c >= keys (padding).
// Causal and window bounds cut each row to one run [begin, end) of the tile's keys.
template <class T>
void mask_tile(const AttentionProblem& problem, int64_t b, int64_t h, int64_t first_query,
               int64_t rows, int64_t first_key, int64_t keys, int64_t padded_keys, T* s,
               int64_t lds) {
  const int64_t first = first_query + problem.query_offset;  // the first query's position
  const bool crosses_diagonal = banded(problem) && first_key + keys - 1 > first;
  const bool crosses_window = problem.window > 0 && first_key <= first + rows - 1 - problem.window;
  for (int64_t r = 0; r < rows; ++r) {
    T* row = s + r * lds;
    const int64_t i = first_query + r, position = first + r;
    if (problem.mask.data != nullptr) {
      const bool* allowed_keys = problem.mask.row(b, h, i) + first_key * problem.mask.column_stride;
      for (int64_t c = 0; c < keys; ++c)
        if (!allowed_keys[c * problem.mask.column_stride]) row[c] = -kInfinity<T>;
    }
    const int64_t end =
        crosses_diagonal ? std::clamp<int64_t>(position + 1 - first_key, 0, keys) : keys;
    const int64_t begin =
        crosses_window ? std::clamp<int64_t>(position - problem.window + 1 - first_key, 0, end) : 0;
    std::fill(row, row + begin, -kInfinity<T>);
    std::fill(row + end, row + padded_keys, -kInfinity<T>);
  }
}

// ---- packing ----

// dst[x] = scale * src[x * stride] for x < n.
template <class T>
void pack_row(const T* src, int64_t stride, int64_t n, T scale, T* dst) {
  for (int64_t x = 0; x < n; ++x) dst[x] = scale * src[x * stride];
}

// dst[x * ld + c] = rows of `view` (b, h, first + c), for c < count, x < n: a transposed tile,
// whose rows are gathered a SIMD vector of c at a time (rows are far apart: the projections of
// every head sit between them), and zero from count to the next multiple of the SIMD width.
template <class T>
void pack_transposed(const HeadsView<const T>& view, int64_t b, int64_t h, int64_t first,
                     int64_t count, int64_t n, T* dst, int64_t ld) {
  using Offset = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;  // the gathers' index type
  const T* rows = view.row(b, h, first);
  int64_t c = 0;
  if ((kLanes<T> - 1) * view.row_stride <= std::numeric_limits<Offset>::max()) {
    alignas(64) Offset row_offsets[kLanes<T>];
    for (int64_t lane = 0; lane < kLanes<T>; ++lane)
      row_offsets[lane] = static_cast<Offset>(lane * view.row_stride);
    const auto offsets = xsimd::batch<Offset, Arch>::load_aligned(row_offsets);
    for (; c + kLanes<T> <= count; c += kLanes<T>) {
      const T* src = rows + c * view.row_stride;
      for (int64_t x = 0; x < n; ++x)
        Batch<T>::gather(src + x * view.column_stride, offsets).store_unaligned(dst + x * ld + c);
    }
  }
  for (; c < count; ++c) {
    const T* src = rows + c * view.row_stride;
    for (int64_t x = 0; x < n; ++x) dst[x * ld + c] = src[x * view.column_stride];
  }
  for (int64_t x = 0; x < n; ++x) std::fill(dst + x * ld + count, dst + (x + 1) * ld, T(0));
}

// Tile sizes of a problem, rounded to what tile_product needs.
struct Sizes {
  int64_t query_tile, key_tile;  // multiples of 16: of kTileRows and of the SIMD width
  int64_t d, dv;                 // head and value features
  int64_t padded_d, padded_dv;   // rounded up to the SIMD width
};

template <class T>
Sizes sizes_of(const AttentionProblem& problem) {
  const auto tile = [](int64_t size, std::string_view name) {
    if (size <= 0 || size % 16 != 0)
      fail("flash_attention: {} {} is not a positive multiple of 16", name, size);
    return size;
  };
  static_assert(16 % kTileRows == 0 && 16 % kLanes<T> == 0);
  if (problem.window < 0)
    fail("flash_attention: window {} is negative (0 for none, W > 0 for the W latest keys)",
         problem.window);
  return {tile(problem.query_tile, "query_tile"),
          tile(problem.key_tile, "key_tile"),
          problem.head_dim,
          problem.value_dim,
          round_up(problem.head_dim, kLanes<T>),
          round_up(problem.value_dim, kLanes<T>)};
}

// Problems smaller than this many flops are not worth sharing among threads, and smaller than
// kWakeFlopsPerThread a thread not worth waking a sleeping worker for (parallel.hpp).
constexpr double kFlopsPerThread = 1 << 21;
constexpr double kWakeFlopsPerThread = 8 * kFlopsPerThread;

Team team_of(const AttentionProblem& p) {
  // A window W lets each query tile see about W + key_tile keys.
  const double keys =
      p.window > 0 ? std::min<double>(p.keys, p.window + p.key_tile) : static_cast<double>(p.keys);
  const double flops = 2.0 * p.batch * p.heads * p.queries * keys * (p.head_dim + p.value_dim);
  const int threads = flops > kFlopsPerThread ? ThreadPool::instance().threads() : 1;
  return {threads, flops / threads >= kWakeFlopsPerThread};
}

// ---- forward ----

// One thread's buffers: a whole head's kᵀ [d, padded keys] and v [keys, padded_dv], packed once
// for all its query tiles; a tile's q [query_tile, d] (scaled), scores [query_tile, key_tile],
// output accumulator [query_tile, padded_dv], and per row its running max, its running sum
// (one SIMD vector of partial sums, added up once at the end), and the current tile's new max,
// shift and rescale factor.
template <class T>
struct ForwardTiles {
  ForwardTiles(const Sizes& z, int64_t keys)
      : kt_stride(round_up(keys, kLanes<T>)),
        kt(z.d * kt_stride),
        v(keys * z.padded_dv),
        q(z.query_tile * z.d),
        s(z.query_tile * z.key_tile),
        o(z.query_tile * z.padded_dv),
        max(z.query_tile),
        sum(z.query_tile * kLanes<T>),
        new_max(z.query_tile),
        shift(z.query_tile),
        rescale(z.query_tile),
        dropout_keys(z.query_tile) {}
  int64_t kt_stride;
  Buffer<T> kt, v, q, s, o, max, sum, new_max, shift, rescale;
  std::vector<uint32_t> dropout_keys;
};

// The largest lane of v.
template <class T>
T lane_max(const Batch<T>& v) {
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_same_v<T, float>) {
    return _mm512_reduce_max_ps(v);
  } else {
    return _mm512_reduce_max_pd(v);
  }
#else
  alignas(64) T lanes[kLanes<T>];
  v.store_aligned(lanes);
  return *std::max_element(lanes, lanes + kLanes<T>);
#endif
}

// e^x for the weights' exponents x <= 0 (scores minus their row max or log-sum-exp); -inf gives
// 0 and NaN stays NaN. In float with AVX-512: 2^(x log2 e) = 2^n · 2^f with n = round(x log2 e),
// f in [-1/2, 1/2], 2^f by its Taylor polynomial of degree 6 (relative error < 1.2e-7, about a
// float ulp) and 2^n by scalef, which flushes what underflows to 0: half the instructions of
// xsimd::exp, which every other case uses.
template <class V>
V weight_exp(const V& x) {
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_same_v<V, Batch<float>>) {
    constexpr float ln2 = 0.693147180559945f;
    const __m512 t = _mm512_max_ps(_mm512_set1_ps(-160.0f), x * V(1.44269504088896f));
    const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const V f = V(t) - V(n);
    V p(ln2 * ln2 * ln2 * ln2 * ln2 * ln2 / 720);
    p = xsimd::fma(p, f, V(ln2 * ln2 * ln2 * ln2 * ln2 / 120));
    p = xsimd::fma(p, f, V(ln2 * ln2 * ln2 * ln2 / 24));
    p = xsimd::fma(p, f, V(ln2 * ln2 * ln2 / 6));
    p = xsimd::fma(p, f, V(ln2 * ln2 / 2));
    p = xsimd::fma(p, f, V(ln2));
    p = xsimd::fma(p, f, V(1.0f));
    return _mm512_scalef_ps(p, n);
  }
#endif
  return xsimd::exp(x);
}

// The online softmax of a tile's score rows [0, rows) (padded_keys wide): each row's new running
// max m' = max(m, max s); its scores become exp(s - m'), and its running sum and output row are
// rescaled by exp(m - m') before this tile's weights join them. A row with no key allowed so far
// (m' = -inf) subtracts 0 instead, which keeps its weights 0. Each pass runs over independent
// rows, so that no row waits for the previous one's reductions.
// Why the result is exact: with m_t the row's max over tiles 1..t, by induction
//   l_t = Σ_{j in tiles 1..t} e^(s_j - m_t)          o_t = Σ_{j in tiles 1..t} e^(s_j - m_t)·v_j
// since each step moves every earlier term from m_{t-1} to m_t:
//   l_t = l_{t-1}·e^(m_{t-1} - m_t) + Σ_{j in tile t} e^(s_j - m_t)       (o_t alike)
// so after the last tile o / l = Σ_j softmax(s)_j·v_j, and lse = m + log l = log Σ_j e^(s_j),
// from which the backward recomputes each weight, softmax(s)_j = e^(s_j - lse). With dropout,
// o gathers the weights after dropout and l those before: the softmax's normaliser, as PyTorch.
template <class T>
void online_softmax(int64_t rows, int64_t padded_keys, int64_t padded_dv, ForwardTiles<T>& tile) {
  using V = Batch<T>;
  for (int64_t r = 0; r < rows; ++r) {
    const T* s = tile.s.data() + r * padded_keys;
    V tile_max(-kInfinity<T>);
    for (int64_t c = 0; c < padded_keys; c += kLanes<T>)
      tile_max = xsimd::max(tile_max, V::load_unaligned(s + c));
    tile.new_max[r] = std::max(tile.max[r], lane_max(tile_max));
  }
  for_each_lane<T>(rows, [&]<class L>(Lane<L>, int64_t r) {
    const L new_max = load_lane<L>(tile.new_max.data() + r);
    const L shift = select(new_max == negative_infinity<L>(), L(T(0)), new_max);
    store_lane(tile.shift.data() + r, shift);
    store_lane(tile.rescale.data() + r, xsimd::exp(load_lane<L>(tile.max.data() + r) - shift));
  });
  std::copy_n(tile.new_max.begin(), rows, tile.max.begin());
  for (int64_t r = 0; r < rows; ++r) {
    T* s = tile.s.data() + r * padded_keys;
    const V shift(tile.shift[r]), rescale(tile.rescale[r]);
    T* sum = tile.sum.data() + r * kLanes<T>;
    V total = V::load_aligned(sum) * rescale;
    for (int64_t c = 0; c < padded_keys; c += kLanes<T>) {
      const V e = weight_exp(V::load_unaligned(s + c) - shift);
      e.store_unaligned(s + c);
      total += e;
    }
    total.store_aligned(sum);
    T* o = tile.o.data() + r * padded_dv;
    for (int64_t x = 0; x < padded_dv; x += kLanes<T>)
      (V::load_unaligned(o + x) * rescale).store_unaligned(o + x);
  }
}

// out and lse of the queries [first_query, first_query + query_tile) of head (b, h), from its
// packed keys and values.
template <class T>
void forward_query_tile(const AttentionProblem& problem, const Sizes& z,
                        const HeadsView<const T>& q, const HeadsView<T>& out, T* lse, int64_t b,
                        int64_t h, int64_t first_query, ForwardTiles<T>& tile) {
  const int64_t rows = std::min(z.query_tile, problem.queries - first_query);
  const int64_t padded_rows = round_up(rows, kTileRows);
  for (int64_t r = 0; r < rows; ++r)
    pack_row(q.row(b, h, first_query + r), q.column_stride, z.d, T(problem.scale),
             tile.q.data() + r * z.d);
  std::fill(tile.q.begin() + rows * z.d, tile.q.begin() + padded_rows * z.d, T(0));
  std::fill(tile.o.begin(), tile.o.begin() + padded_rows * z.padded_dv, T(0));
  std::fill(tile.max.begin(), tile.max.end(), -kInfinity<T>);
  std::fill(tile.sum.begin(), tile.sum.end(), T(0));
  const Dropout dropout = dropout_of(problem);
  for (int64_t r = 0; r < rows && problem.dropout > 0; ++r)
    tile.dropout_keys[r] = dropout_key(dropout, problem, b, h, first_query + r);

  // Key tiles wholly after the tile's last query (causal) or before its first query's window are
  // masked for every row: skipped. Those that straddle a bound are masked per element.
  const auto [key_begin, key_end] = key_range(problem, first_query, rows);
  for (int64_t first_key = key_begin / z.key_tile * z.key_tile; first_key < key_end;
       first_key += z.key_tile) {
    const int64_t keys = std::min(z.key_tile, key_end - first_key);
    const int64_t padded_keys = round_up(keys, kLanes<T>);
    // S = (scale q) kᵀ   [rows, keys]; columns past `keys` are masked below
    tile_product<TileUpdate::Overwrite>(padded_rows, padded_keys, z.d, {tile.q.data(), z.d, 1},
                                        tile.kt.data() + first_key, tile.kt_stride, tile.s.data(),
                                        padded_keys);
    mask_tile(problem, b, h, first_query, rows, first_key, keys, padded_keys, tile.s.data(),
              padded_keys);
    online_softmax(rows, padded_keys, z.padded_dv, tile);
    for (int64_t r = 0; r < rows && problem.dropout > 0; ++r) {
      T* weights = tile.s.data() + r * padded_keys;
      apply_dropout(dropout, tile.dropout_keys[r], first_key, keys, weights, weights);
    }
    // O = O · rescale + P v   [rows, dv]; padding rows keep their scores 0 · k = 0 as weights
    tile_product<TileUpdate::Accumulate>(
        padded_rows, z.padded_dv, keys, {tile.s.data(), padded_keys, 1},
        tile.v.data() + first_key * z.padded_dv, z.padded_dv, tile.o.data(), z.padded_dv);
  }

  for (int64_t r = 0; r < rows; ++r) {
    const T sum = xsimd::hadd(Batch<T>::load_aligned(tile.sum.data() + r * kLanes<T>));
    const T inverse = sum > 0 ? T(1) / sum : T(0);
    T* dst = out.row(b, h, first_query + r);
    const T* o = tile.o.data() + r * z.padded_dv;
    for (int64_t x = 0; x < z.dv; ++x) dst[x * out.column_stride] = o[x] * inverse;
    if (lse != nullptr)
      lse[(b * problem.heads + h) * problem.queries + first_query + r] =
          sum > 0 ? tile.max[r] + std::log(sum) : -kInfinity<T>;
  }
}

// out and lse of the query tiles [first_tile, end_tile) of head (b, h).
template <class T>
void forward_query_tiles(const AttentionProblem& problem, const Sizes& z,
                         const HeadsView<const T>& q, const HeadsView<const T>& k,
                         const HeadsView<const T>& v, const HeadsView<T>& out, T* lse, int64_t b,
                         int64_t h, int64_t first_tile, int64_t end_tile, ForwardTiles<T>& tile) {
  if (first_tile >= end_tile) return;
  pack_transposed(k, b, h, 0, problem.keys, z.d, tile.kt.data(), tile.kt_stride);
  for (int64_t j = 0; j < problem.keys; ++j)
    pack_row(v.row(b, h, j), v.column_stride, z.dv, T(1), tile.v.data() + j * z.padded_dv);
  for (int64_t t = first_tile; t < end_tile; ++t)
    forward_query_tile(problem, z, q, out, lse, b, h, t * z.query_tile, tile);
}

// ---- backward ----

// One thread's buffers. Whole heads: q [queries, padded_d] (scaled), dO [queries, padded_dv],
// dQ [queries, padded_d], and per query the row shift (lse, or +inf for a query without keys) and
// D = dO·O; queries are rounded up to kTileRows. Tiles: k [key_tile, padded_d], kᵀ [d, key_tile],
// vᵀ [dv, key_tile], the dK and dV accumulators, and P, dropped P and dP/dS
// [query_tile, key_tile].
template <class T>
struct BackwardTiles {
  BackwardTiles(const Sizes& z, int64_t queries)
      : padded_queries(round_up(queries, kTileRows)),
        q(padded_queries * z.padded_d),
        dout(padded_queries * z.padded_dv),
        dq(padded_queries * z.padded_d),
        shift(padded_queries, kInfinity<T>),
        delta(padded_queries),
        k(z.key_tile * z.padded_d),
        kt(z.d * z.key_tile),
        vt(z.dv * z.key_tile),
        dk(z.key_tile * z.padded_d),
        dv(z.key_tile * z.padded_dv),
        p(z.query_tile * z.key_tile),
        dropped(z.query_tile * z.key_tile),
        ds(z.query_tile * z.key_tile),
        dropout_keys(queries) {}
  int64_t padded_queries;
  Buffer<T> q, dout, dq, shift, delta, k, kt, vt, dk, dv, p, dropped, ds;
  std::vector<uint32_t> dropout_keys;
};

// dV and dK of the keys [first_key, first_key + keys) from every query tile that sees them, and
// those tiles' share of dQ. The math (derived beside the op, in ops/fused_attention.cpp), per tile
// of queries against this tile of keys, M the dropout factors:
//   P = exp(S - lse), S = (scale q) kᵀ    recomputed: the forward saved only lse
//   dV += P̃ᵀ dO,  P̃ = P ⊙ M
//   dP̃ = dO vᵀ,  dS = P ⊙ (dP̃ ⊙ M - D) = P̃ ⊙ dP̃ - P ⊙ D
//   dQ += dS k (scaled once, when written out),  dK += dSᵀ (scale q)
// D_i = rowsum(dP ⊙ P)_i runs over every key of the row, not only this tile's; D_i = dO_i·O_i
// (backward_head) gives it from the output, so each key tile finishes on its own.
template <class T>
void backward_key_tile(const AttentionProblem& problem, const Sizes& z, int64_t b, int64_t h,
                       int64_t first_key, int64_t keys, BackwardTiles<T>& t) {
  const int64_t padded_keys = round_up(keys, kLanes<T>);
  const bool dropout = problem.dropout > 0;
  const Dropout factors = dropout_of(problem);
  T* dropped = dropout ? t.dropped.data() : t.p.data();
  std::fill(t.dk.begin(), t.dk.begin() + padded_keys * z.padded_d, T(0));
  std::fill(t.dv.begin(), t.dv.begin() + padded_keys * z.padded_dv, T(0));
  // Query tiles wholly before first_key (causal) or past the last key's window see none of these
  // keys: skipped. Those that straddle a bound are masked per element.
  const auto [query_begin, query_end] = query_range(problem, first_key, keys);
  for (int64_t first_query = query_begin / z.query_tile * z.query_tile; first_query < query_end;
       first_query += z.query_tile) {
    const int64_t rows = std::min(z.query_tile, problem.queries - first_query);
    const int64_t padded_rows = round_up(rows, kTileRows);
    const T* q = t.q.data() + first_query * z.padded_d;
    const T* dout = t.dout.data() + first_query * z.padded_dv;

    // P = exp(S - lse), S = (scale q) kᵀ   [rows, keys]
    tile_product<TileUpdate::Overwrite>(padded_rows, padded_keys, z.d, {q, z.padded_d, 1},
                                        t.kt.data(), padded_keys, t.p.data(), padded_keys);
    mask_tile(problem, b, h, first_query, rows, first_key, keys, padded_keys, t.p.data(),
              padded_keys);
    for (int64_t r = 0; r < padded_rows; ++r) {
      T* p = t.p.data() + r * padded_keys;
      const Batch<T> shift(t.shift[first_query + r]);
      for (int64_t c = 0; c < padded_keys; c += kLanes<T>)
        weight_exp(Batch<T>::load_unaligned(p + c) - shift).store_unaligned(p + c);
      if (dropout && r < rows) {
        apply_dropout(factors, t.dropout_keys[first_query + r], first_key, keys, p,
                      dropped + r * padded_keys);
        std::fill(dropped + r * padded_keys + keys, dropped + (r + 1) * padded_keys, T(0));
      } else if (dropout) {
        std::fill_n(dropped + r * padded_keys, padded_keys, T(0));
      }
    }
    // dV += P̃ᵀ dO, P̃ the weights after dropout   [keys, dv]
    tile_product<TileUpdate::Accumulate>(padded_keys, z.padded_dv, padded_rows,
                                         {dropped, 1, padded_keys}, dout, z.padded_dv, t.dv.data(),
                                         z.padded_dv);
    // dP̃ = dO vᵀ   [rows, keys]
    tile_product<TileUpdate::Overwrite>(padded_rows, padded_keys, z.dv, {dout, z.padded_dv, 1},
                                        t.vt.data(), padded_keys, t.ds.data(), padded_keys);
    // dS = P ⊙ (dP - D) with dP = dP̃ ⊙ dropout factor, i.e. P̃ ⊙ dP̃ - P ⊙ D
    for (int64_t r = 0; r < padded_rows; ++r) {
      const Batch<T> delta(t.delta[first_query + r]);
      const T* p = t.p.data() + r * padded_keys;
      const T* p_dropped = dropped + r * padded_keys;
      T* ds = t.ds.data() + r * padded_keys;
      for (int64_t c = 0; c < padded_keys; c += kLanes<T>) {
        const Batch<T> p_c = Batch<T>::load_unaligned(p + c);
        const Batch<T> dp_c = Batch<T>::load_unaligned(ds + c);
        xsimd::fms(Batch<T>::load_unaligned(p_dropped + c), dp_c, p_c * delta)
            .store_unaligned(ds + c);
      }
    }
    // dQ += dS k (scaled when written out)   [rows, d]
    tile_product<TileUpdate::Accumulate>(padded_rows, z.padded_d, keys,
                                         {t.ds.data(), padded_keys, 1}, t.k.data(), z.padded_d,
                                         t.dq.data() + first_query * z.padded_d, z.padded_d);
    // dK += dSᵀ (scale q)   [keys, d]
    tile_product<TileUpdate::Accumulate>(padded_keys, z.padded_d, padded_rows,
                                         {t.ds.data(), 1, padded_keys}, q, z.padded_d, t.dk.data(),
                                         z.padded_d);
  }
}

// dq, dk, dv of head (b, h).
template <class T>
void backward_head(const AttentionProblem& problem, const Sizes& z, const HeadsView<const T>& q,
                   const HeadsView<const T>& k, const HeadsView<const T>& v,
                   const HeadsView<const T>& out, const T* lse, const HeadsView<const T>& grad_out,
                   const HeadsView<T>& dq, const HeadsView<T>& dk, const HeadsView<T>& dv,
                   int64_t b, int64_t h, BackwardTiles<T>& t) {
  const T scale = T(problem.scale);
  const Dropout dropout = dropout_of(problem);
  for (int64_t i = 0; i < problem.queries; ++i) {
    pack_row(q.row(b, h, i), q.column_stride, z.d, scale, t.q.data() + i * z.padded_d);
    T* dout = t.dout.data() + i * z.padded_dv;
    pack_row(grad_out.row(b, h, i), grad_out.column_stride, z.dv, T(1), dout);
    const T* o = out.row(b, h, i);
    T delta = 0;
    for (int64_t x = 0; x < z.dv; ++x) delta += dout[x] * o[x * out.column_stride];
    t.delta[i] = delta;
    const T row_lse = lse[(b * problem.heads + h) * problem.queries + i];
    t.shift[i] = row_lse == -kInfinity<T> ? kInfinity<T> : row_lse;
    if (problem.dropout > 0) t.dropout_keys[i] = dropout_key(dropout, problem, b, h, i);
  }
  std::fill(t.dq.begin(), t.dq.end(), T(0));

  for (int64_t first_key = 0; first_key < problem.keys; first_key += z.key_tile) {
    const int64_t keys = std::min(z.key_tile, problem.keys - first_key);
    const int64_t padded_keys = round_up(keys, kLanes<T>);
    for (int64_t c = 0; c < keys; ++c)
      pack_row(k.row(b, h, first_key + c), k.column_stride, z.d, T(1), t.k.data() + c * z.padded_d);
    pack_transposed(k, b, h, first_key, keys, z.d, t.kt.data(), padded_keys);
    pack_transposed(v, b, h, first_key, keys, z.dv, t.vt.data(), padded_keys);
    backward_key_tile(problem, z, b, h, first_key, keys, t);
    for (int64_t c = 0; c < keys; ++c) {
      T* dk_row = dk.row(b, h, first_key + c);
      T* dv_row = dv.row(b, h, first_key + c);
      for (int64_t x = 0; x < z.d; ++x) dk_row[x * dk.column_stride] = t.dk[c * z.padded_d + x];
      for (int64_t x = 0; x < z.dv; ++x) dv_row[x * dv.column_stride] = t.dv[c * z.padded_dv + x];
    }
  }
  for (int64_t i = 0; i < problem.queries; ++i) {
    T* dq_row = dq.row(b, h, i);
    for (int64_t x = 0; x < z.d; ++x)
      dq_row[x * dq.column_stride] = scale * t.dq[i * z.padded_d + x];
  }
}

}  // namespace

double attention_dropout_factor(const AttentionProblem& problem, int64_t b, int64_t h, int64_t i,
                                int64_t j) {
  if (problem.dropout <= 0) return 1.0;
  const Dropout dropout = dropout_of(problem);
  return dropout_factor_lane<double>(dropout, dropout_key(dropout, problem, b, h, i), j);
}

// ---- a few queries ----
//
// Decoding brings one new query per head against the head's whole cache: packing kᵀ and v for a
// single row of products costs more than the products. With at most kFewQueries queries, no
// dropout and rows whose elements are contiguous, each query's scores are dot products with the
// key rows as they lie, then one softmax over them, then the weighted sum of the value rows.
constexpr int64_t kFewQueries = 4;

template <class T>
bool few_queries(const AttentionProblem& problem, const HeadsView<const T>& q,
                 const HeadsView<const T>& k, const HeadsView<const T>& v) {
  return problem.queries <= kFewQueries && problem.dropout == 0 && q.column_stride == 1 &&
         k.column_stride == 1 && v.column_stride == 1;
}

// Σ a[x] b[x] over x < n.
template <class T>
T dot(const T* a, const T* b, int64_t n) {
  Batch<T> sum(T(0));
  int64_t x = 0;
  for (; x + kLanes<T> <= n; x += kLanes<T>)
    sum = xsimd::fma(Batch<T>::load_unaligned(a + x), Batch<T>::load_unaligned(b + x), sum);
  T total = xsimd::hadd(sum);
  for (; x < n; ++x) total += a[x] * b[x];
  return total;
}

// out and lse of query i of head (b, h): s_j = scale q·k_j over the keys it may attend to, then
//   out = Σ_j exp(s_j - m) v_j / l,   l = Σ_j exp(s_j - m),   m = max_j s_j,   lse = m + log l.
// `weights` and `o` are scratch.
template <class T>
void forward_one_query(const AttentionProblem& problem, const HeadsView<const T>& q,
                       const HeadsView<const T>& k, const HeadsView<const T>& v,
                       const HeadsView<T>& out, T* lse, int64_t b, int64_t h, int64_t i,
                       Buffer<T>& weights, Buffer<T>& o) {
  using V = Batch<T>;
  const KeyRange range = key_range(problem, i, 1);
  const int64_t begin = range.begin, end = range.end;  // not a binding: the lambdas below use them
  const int64_t keys = std::max<int64_t>(0, end - begin), dv = problem.value_dim;
  weights.assign(round_up(keys, kLanes<T>), -kInfinity<T>);  // -inf: not attended
  T max = -kInfinity<T>;
  for (int64_t j = begin; j < end; ++j) {
    if (!allowed(problem, b, h, i, j)) continue;
    weights[j - begin] = T(problem.scale) * dot(q.row(b, h, i), k.row(b, h, j), problem.head_dim);
    max = std::max(max, weights[j - begin]);
  }
  V sum(T(0));
  const V shift(max == -kInfinity<T> ? T(0) : max);  // a query that sees no key keeps weights 0
  for (std::size_t c = 0; c < weights.size(); c += kLanes<T>) {
    const V e = weight_exp(V::load_aligned(weights.data() + c) - shift);
    e.store_aligned(weights.data() + c);
    sum += e;
  }
  const T total = xsimd::hadd(sum);
  // o = Σ_j weight_j v_j, one SIMD vector of o at a time over all the keys, four sums in flight.
  o.assign(static_cast<std::size_t>(dv), T(0));
  const int64_t vector_dv = dv / kLanes<T> * kLanes<T>;
  const auto weight = [&](int64_t j) { return V(weights[j - begin]); };
  for (int64_t x = 0; x < vector_dv; x += kLanes<T>) {
    const auto value = [&](int64_t j) { return V::load_unaligned(v.row(b, h, j) + x); };
    V sums[4] = {V(T(0)), V(T(0)), V(T(0)), V(T(0))};
    int64_t j = begin;
    for (; j + 4 <= end; j += 4)
      for (int64_t u = 0; u < 4; ++u) sums[u] = xsimd::fma(weight(j + u), value(j + u), sums[u]);
    for (; j < end; ++j) sums[0] = xsimd::fma(weight(j), value(j), sums[0]);
    ((sums[0] + sums[1]) + (sums[2] + sums[3])).store_aligned(o.data() + x);
  }
  for (int64_t j = begin; j < end; ++j)
    for (int64_t x = vector_dv; x < dv; ++x) o[x] += weights[j - begin] * v.row(b, h, j)[x];
  const T inverse = total > 0 ? T(1) / total : T(0);
  T* dst = out.row(b, h, i);
  for (int64_t x = 0; x < dv; ++x) dst[x * out.column_stride] = o[x] * inverse;
  if (lse != nullptr)
    lse[(b * problem.heads + h) * problem.queries + i] =
        total > 0 ? max + std::log(total) : -kInfinity<T>;
}

template <class T>
void flash_attention_forward(const AttentionProblem& problem, const HeadsView<const T>& q,
                             const HeadsView<const T>& k, const HeadsView<const T>& v,
                             const HeadsView<T>& out, T* lse) {
  const Sizes z = sizes_of<T>(problem);
  // Tasks: heads, cut into chunks of query tiles when there are too few heads to keep every
  // thread busy (each chunk packs its head's keys and values again). Each thread works through its
  // own run of consecutive tasks first (thread_pool.hpp): the batch items whose q, k, v rows the
  // projection GEMM wrote from that thread, still in its L2 (a shared queue of tasks, each taken
  // by whichever thread is free: 10% slower inference at T = 32).
  const int64_t heads = problem.batch * problem.heads;
  if (few_queries(problem, q, k, v)) {
    // Each key and value row is read for a few flops: the time is that of reading them.
    const Team team =
        team_for_work(heads * problem.queries *
                      std::min(problem.keys, problem.window > 0 ? problem.window : problem.keys) *
                      (problem.head_dim + problem.value_dim));
    parallel_for_each_thread(heads * problem.queries, team, [&](ItemRanges& tasks) {
      Buffer<T> weights, o;
      while (const auto range = tasks.next()) {
        for (int64_t task = range->begin; task < range->end; ++task) {
          const int64_t head = task / problem.queries;
          forward_one_query(problem, q, k, v, out, lse, head / problem.heads, head % problem.heads,
                            task % problem.queries, weights, o);
        }
      }
    });
    return;
  }
  const Team team = team_of(problem);
  const int64_t query_tiles = ceil_div(problem.queries, z.query_tile);
  const int64_t threads = ThreadPool::instance().available(team);
  const int64_t chunks = std::clamp<int64_t>(ceil_div(4 * threads, std::max<int64_t>(heads, 1)), 1,
                                             std::max<int64_t>(query_tiles, 1));
  const int64_t chunk_tiles = ceil_div(query_tiles, chunks);
  parallel_for_each_thread(heads * chunks, team, [&](ItemRanges& tasks) {
    ForwardTiles<T> tile(z, problem.keys);
    while (const auto range = tasks.next()) {
      for (int64_t task = range->begin; task < range->end; ++task) {
        const int64_t head = task / chunks, first_tile = task % chunks * chunk_tiles;
        forward_query_tiles(problem, z, q, k, v, out, lse, head / problem.heads,
                            head % problem.heads, first_tile,
                            std::min(query_tiles, first_tile + chunk_tiles), tile);
      }
    }
  });
}

template <class T>
void flash_attention_backward(const AttentionProblem& problem, const HeadsView<const T>& q,
                              const HeadsView<const T>& k, const HeadsView<const T>& v,
                              const HeadsView<const T>& out, const T* lse,
                              const HeadsView<const T>& grad_out, const HeadsView<T>& dq,
                              const HeadsView<T>& dk, const HeadsView<T>& dv) {
  const Sizes z = sizes_of<T>(problem);
  const int64_t heads = problem.batch * problem.heads;
  // Consecutive heads per thread, as in the forward.
  parallel_for_each_thread(heads, team_of(problem), [&](ItemRanges& ranges) {
    BackwardTiles<T> tiles(z, problem.queries);
    while (const auto range = ranges.next()) {
      for (int64_t head = range->begin; head < range->end; ++head)
        backward_head(problem, z, q, k, v, out, lse, grad_out, dq, dk, dv, head / problem.heads,
                      head % problem.heads, tiles);
    }
  });
}

// ---- references ----

namespace {

// The weights of query i of head (b, h) before dropout, and the row's log-sum-exp.
template <class T>
std::vector<T> reference_weights(const AttentionProblem& problem, const HeadsView<const T>& q,
                                 const HeadsView<const T>& k, int64_t b, int64_t h, int64_t i,
                                 T& lse) {
  std::vector<T> weights(problem.keys, -kInfinity<T>);
  for (int64_t j = 0; j < problem.keys; ++j) {
    if (!allowed(problem, b, h, i, j)) continue;
    T dot = 0;
    for (int64_t x = 0; x < problem.head_dim; ++x)
      dot += q.row(b, h, i)[x * q.column_stride] * k.row(b, h, j)[x * k.column_stride];
    weights[j] = T(problem.scale) * dot;
  }
  const T max = weights.empty() ? -kInfinity<T> : *std::max_element(weights.begin(), weights.end());
  if (max == -kInfinity<T>) {
    std::fill(weights.begin(), weights.end(), T(0));
    lse = -kInfinity<T>;
    return weights;
  }
  T sum = 0;
  for (T& w : weights) sum += (w = std::exp(w - max));
  for (T& w : weights) w /= sum;
  lse = max + std::log(sum);
  return weights;
}

}  // namespace

template <class T>
void attention_forward_reference(const AttentionProblem& problem, const HeadsView<const T>& q,
                                 const HeadsView<const T>& k, const HeadsView<const T>& v,
                                 const HeadsView<T>& out, T* lse) {
  for (int64_t b = 0; b < problem.batch; ++b)
    for (int64_t h = 0; h < problem.heads; ++h)
      for (int64_t i = 0; i < problem.queries; ++i) {
        T& row_lse = lse[(b * problem.heads + h) * problem.queries + i];
        const std::vector<T> weights = reference_weights(problem, q, k, b, h, i, row_lse);
        for (int64_t x = 0; x < problem.value_dim; ++x) {
          T sum = 0;
          for (int64_t j = 0; j < problem.keys; ++j)
            sum += weights[j] * T(attention_dropout_factor(problem, b, h, i, j)) *
                   v.row(b, h, j)[x * v.column_stride];
          out.row(b, h, i)[x * out.column_stride] = sum;
        }
      }
}

template <class T>
void attention_backward_reference(const AttentionProblem& problem, const HeadsView<const T>& q,
                                  const HeadsView<const T>& k, const HeadsView<const T>& v,
                                  const HeadsView<const T>& grad_out, const HeadsView<T>& dq,
                                  const HeadsView<T>& dk, const HeadsView<T>& dv) {
  const int64_t Tq = problem.queries, Tk = problem.keys, d = problem.head_dim,
                dv_size = problem.value_dim;
  const T scale = T(problem.scale);
  const auto element = [](const auto& view, int64_t b, int64_t h, int64_t t, int64_t x) -> auto& {
    return view.row(b, h, t)[x * view.column_stride];
  };
  for (int64_t b = 0; b < problem.batch; ++b)
    for (int64_t h = 0; h < problem.heads; ++h) {
      for (int64_t j = 0; j < Tk; ++j) {
        for (int64_t x = 0; x < d; ++x) element(dk, b, h, j, x) = 0;
        for (int64_t x = 0; x < dv_size; ++x) element(dv, b, h, j, x) = 0;
      }
      for (int64_t i = 0; i < Tq; ++i) {
        T lse;
        const std::vector<T> p = reference_weights(problem, q, k, b, h, i, lse);
        // dP = (dO vᵀ) ⊙ factor, dV += (P ⊙ factor)ᵀ dO
        std::vector<T> dp(Tk);
        for (int64_t j = 0; j < Tk; ++j) {
          const T factor = T(attention_dropout_factor(problem, b, h, i, j));
          T dot = 0;
          for (int64_t x = 0; x < dv_size; ++x) {
            dot += element(grad_out, b, h, i, x) * element(v, b, h, j, x);
            element(dv, b, h, j, x) += p[j] * factor * element(grad_out, b, h, i, x);
          }
          dp[j] = dot * factor;
        }
        // dS = P ⊙ (dP - Σ P ⊙ dP)
        T p_dot_dp = 0;
        for (int64_t j = 0; j < Tk; ++j) p_dot_dp += p[j] * dp[j];
        for (int64_t x = 0; x < d; ++x) element(dq, b, h, i, x) = 0;
        for (int64_t j = 0; j < Tk; ++j) {
          const T ds = p[j] * (dp[j] - p_dot_dp);
          for (int64_t x = 0; x < d; ++x) {
            element(dq, b, h, i, x) += scale * ds * element(k, b, h, j, x);
            element(dk, b, h, j, x) += scale * ds * element(q, b, h, i, x);
          }
        }
      }
    }
}

#define TAPEGRAD_INSTANTIATE(T)                                                                  \
  template void flash_attention_forward<T>(const AttentionProblem&, const HeadsView<const T>&,   \
                                           const HeadsView<const T>&, const HeadsView<const T>&, \
                                           const HeadsView<T>&, T*);                             \
  template void flash_attention_backward<T>(                                                     \
      const AttentionProblem&, const HeadsView<const T>&, const HeadsView<const T>&,             \
      const HeadsView<const T>&, const HeadsView<const T>&, const T*, const HeadsView<const T>&, \
      const HeadsView<T>&, const HeadsView<T>&, const HeadsView<T>&);                            \
  template void attention_forward_reference<T>(                                                  \
      const AttentionProblem&, const HeadsView<const T>&, const HeadsView<const T>&,             \
      const HeadsView<const T>&, const HeadsView<T>&, T*);                                       \
  template void attention_backward_reference<T>(                                                 \
      const AttentionProblem&, const HeadsView<const T>&, const HeadsView<const T>&,             \
      const HeadsView<const T>&, const HeadsView<const T>&, const HeadsView<T>&,                 \
      const HeadsView<T>&, const HeadsView<T>&);

TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
