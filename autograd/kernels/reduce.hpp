// Reductions of a contiguous tensor viewed as [outer, n, inner] along its middle axis.
//
// A "line" is what one reduction walks: a Contiguous row of n elements when inner == 1 (SIMD
// across the row, then a horizontal fold), or Strided columns when inner > 1 (one lane holds
// kWidth neighbouring columns and accumulates down the n rows: vertical SIMD, no horizontal step).
// softmax.hpp and layer_norm.hpp write their algorithms once against the same two line types.
//
// Sums accumulate in T (float in float) with four accumulators per lane over blocks of
// kPairwiseBlock terms, the blocks added pairwise: the rounding error grows with the log of n.
#pragma once

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <vector>

#include "autograd/kernels/functors.hpp"
#include "autograd/kernels/parallel.hpp"

namespace tapegrad::kernels {

namespace detail {

// Terms folded by one set of four accumulators before a range is split in halves.
inline constexpr int64_t kPairwiseBlock = 256;

// op-fold of term(i) for i in [begin, end): four accumulators over blocks of kPairwiseBlock
// terms, the blocks combined pairwise.
template <class V, class Term, class Op>
V tree_reduce(int64_t begin, int64_t end, V identity, const Term& term, Op op) {
  if (end - begin > kPairwiseBlock) {
    const int64_t middle = begin + (end - begin) / 2;
    return op(tree_reduce(begin, middle, identity, term, op),
              tree_reduce(middle, end, identity, term, op));
  }
  V acc0 = identity, acc1 = identity, acc2 = identity, acc3 = identity;
  int64_t i = begin;
  for (; i + 4 <= end; i += 4) {
    acc0 = op(acc0, term(i));
    acc1 = op(acc1, term(i + 1));
    acc2 = op(acc2, term(i + 2));
    acc3 = op(acc3, term(i + 3));
  }
  for (; i < end; ++i) acc0 = op(acc0, term(i));
  return op(op(acc0, acc1), op(acc2, acc3));
}

// op-fold of the lanes of v, as a tree.
template <class T, class A, class Op>
T horizontal(const xsimd::batch<T, A>& v, Op op) {
  constexpr int64_t width = kWidth<xsimd::batch<T, A>>;
  T lanes[width];
  v.store_unaligned(lanes);
  for (int64_t half = width / 2; half > 0; half /= 2) {
    for (int64_t i = 0; i < half; ++i) lanes[i] = op(lanes[i], lanes[i + half]);
  }
  return lanes[0];
}

// A NaN beats any number; among equals the earlier (best) stays.
struct Beats {
  template <class V>
  auto operator()(V candidate, V best) const {
    return candidate > best || (xsimd::isnan(candidate) && !xsimd::isnan(best));
  }
};

}  // namespace detail

// n contiguous elements: bodies see Batch<T> lanes, then T lanes on the tail; reductions are
// folded to one T.
template <class T>
struct Contiguous {
  int64_t n;

  // op-fold over the row of term(lane<V>, i), the lane of terms at element i.
  template <class Term, class Op>
  T reduce(T identity, const Term& term, Op op) const {
    using B = Batch<T>;
    const int64_t batches = n / kWidth<B>;
    const B body = detail::tree_reduce(
        int64_t{0}, batches, B(identity), [&](int64_t b) { return term(lane<B>, b * kWidth<B>); },
        op);
    const T tail = detail::tree_reduce(
        batches * kWidth<B>, n, identity, [&](int64_t i) { return term(lane<T>, i); }, op);
    return op(detail::horizontal(body, op), tail);
  }
  template <class Body>
  void for_each(const Body& body) const {
    for_each_lane<T>(n, body);
  }
};

// n elements `stride` apart, each lane V holding kWidth<V> independent neighbouring columns:
// bodies see element offsets k·stride, reductions give one result per column (a V).
template <class V>
struct Strided {
  int64_t n;
  int64_t stride;

  template <class Term, class Op>
  V reduce(Element<V> identity, const Term& term, Op op) const {
    return detail::tree_reduce(
        int64_t{0}, n, V(identity), [&](int64_t k) { return term(lane<V>, k * stride); }, op);
  }
  template <class Body>
  void for_each(const Body& body) const {
    for (int64_t k = 0; k < n; ++k) body(lane<V>, k * stride);
  }
};

// Calls f(line, offset, reduced_offset) for every line along the middle axis of [outer, n, inner]:
// offset is the line's first element, reduced_offset its place in the [outer, inner] result. Lines
// are independent and shared among threads (a line is never split), so results do not depend on
// the thread count; f must only write its own line's outputs.
template <class T, class F>
void for_each_line(int64_t outer, int64_t n, int64_t inner, const F& f) {
  if (inner == 1) {
    parallel_for(outer, n, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) f(Contiguous<T>{n}, o * n, o);
    });
    return;
  }
  // Per outer index: the batches of kWidth neighbouring columns, then the columns of the tail.
  constexpr int64_t width = kWidth<Batch<T>>;
  const int64_t batches = inner / width, columns = batches + inner % width;
  parallel_for(outer * columns, n * width, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t o = item / columns, c = item % columns;
      if (c < batches) {
        f(Strided<Batch<T>>{n, inner}, o * n * inner + c * width, o * inner + c * width);
      } else {
        const int64_t j = batches * width + (c - batches);
        f(Strided<T>{n, inner}, o * n * inner + j, o * inner + j);
      }
    }
  });
}

// Σ_i x[i]
template <class T>
T sum_all(const T* x, int64_t n) {
  return Contiguous<T>{n}.reduce(T(0), loader(x), Add{});
}

template <class T>
T sum_all_reference(const T* x, int64_t n) {
  T total = 0;
  for (int64_t i = 0; i < n; ++i) total += x[i];
  return total;
}

// Σ_i a[i]·b[i]
template <class T>
T dot(const T* a, const T* b, int64_t n) {
  return Contiguous<T>{n}.reduce(
      T(0), [&]<class V>(Lane<V>, int64_t i) { return load_lane<V>(a + i) * load_lane<V>(b + i); },
      Add{});
}

template <class T>
T dot_reference(const T* a, const T* b, int64_t n) {
  T total = 0;
  for (int64_t i = 0; i < n; ++i) total += a[i] * b[i];
  return total;
}

namespace detail {

// The ranges that tree_reduce over [begin, end) folds with its four accumulators, in order.
inline void tree_leaves(int64_t begin, int64_t end, std::vector<int64_t>& starts) {
  if (end - begin > kPairwiseBlock) {
    const int64_t middle = begin + (end - begin) / 2;
    tree_leaves(begin, middle, starts);
    tree_leaves(middle, end, starts);
    return;
  }
  starts.push_back(begin);
}

// row[j] += other[j] for j < n.
template <class T>
void add_row(T* row, const T* other, int64_t n) {
  for_each_lane<T>(n, [&]<class V>(Lane<V>, int64_t j) {
    store_lane(row + j, load_lane<V>(row + j) + load_lane<V>(other + j));
  });
}

// Folds the leaves' rows of [begin, end) as tree_reduce does, into the first one; returns it.
template <class T>
T* combine_leaves(int64_t begin, int64_t end, int64_t n, T*& next_leaf) {
  if (end - begin > kPairwiseBlock) {
    const int64_t middle = begin + (end - begin) / 2;
    T* left = combine_leaves(begin, middle, n, next_leaf);
    add_row(left, combine_leaves(middle, end, n, next_leaf), n);
    return left;
  }
  T* leaf = next_leaf;
  next_leaf += n;
  return leaf;
}

// Columns per item of column_sums: accumulators of four such rows stay in L1.
inline constexpr int64_t kColumnChunk = 1024;

// out[o, :] = Σ_k x[o, k, :] for inner > 1, walking the rows in memory order: each leaf of the
// summation tree folds its rows into four accumulator rows, then the leaves are combined pairwise.
// Every column gets exactly the additions of tree_reduce down that column. Items (an outer index,
// a leaf, a chunk of columns) are shared among threads.
template <class T>
void column_sums(const T* x, int64_t outer, int64_t n, int64_t inner, T* out) {
  std::vector<int64_t> starts;
  tree_leaves(0, n, starts);
  const int64_t leaves = static_cast<int64_t>(starts.size());
  starts.push_back(n);
  const int64_t chunks = (inner + kColumnChunk - 1) / kColumnChunk;
  std::vector<T> partial(static_cast<std::size_t>(outer * leaves * inner));
  const int64_t work = (n / leaves + 1) * std::min(inner, kColumnChunk);
  parallel_for(outer * leaves * chunks, work, [&](int64_t first, int64_t last) {
    const int64_t width = std::min(inner, kColumnChunk);
    std::vector<T> accumulators(static_cast<std::size_t>(4 * width));
    T* const acc[4] = {accumulators.data(), accumulators.data() + width,
                       accumulators.data() + 2 * width, accumulators.data() + 3 * width};
    for (int64_t item = first; item < last; ++item) {
      const int64_t o = item / (leaves * chunks), leaf = item / chunks % leaves;
      const int64_t column = item % chunks * kColumnChunk;
      const int64_t columns = std::min(kColumnChunk, inner - column);
      const T* rows = x + o * n * inner + column;
      std::fill(accumulators.begin(), accumulators.end(), T(0));
      int64_t k = starts[leaf];
      for (; k + 4 <= starts[leaf + 1]; k += 4) {
        for (int64_t a = 0; a < 4; ++a) add_row(acc[a], rows + (k + a) * inner, columns);
      }
      for (; k < starts[leaf + 1]; ++k) add_row(acc[0], rows + k * inner, columns);
      add_row(acc[0], acc[1], columns);
      add_row(acc[2], acc[3], columns);
      add_row(acc[0], acc[2], columns);
      std::copy_n(acc[0], columns, partial.data() + (o * leaves + leaf) * inner + column);
    }
  });
  for (int64_t o = 0; o < outer; ++o) {
    T* next_leaf = partial.data() + o * leaves * inner;
    std::copy_n(combine_leaves(int64_t{0}, n, inner, next_leaf), inner, out + o * inner);
  }
}

}  // namespace detail

// out[o, j] = Σ_k x[o, k, j]
template <class T>
void sum(const T* x, int64_t outer, int64_t n, int64_t inner, T* out) {
  if (inner > 1 && n > 0) return detail::column_sums(x, outer, n, inner, out);
  for_each_line<T>(outer, n, inner, [&](const auto& line, int64_t offset, int64_t reduced) {
    store_lane(out + reduced, line.reduce(T(0), loader(x + offset), Add{}));
  });
}

template <class T>
void sum_reference(const T* x, int64_t outer, int64_t n, int64_t inner, T* out) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) {
      T total = 0;
      for (int64_t k = 0; k < n; ++k) total += x[(o * n + k) * inner + j];
      out[o * inner + j] = total;
    }
  }
}

namespace detail {

// A row's max by a SIMD fold, then its first index by a SIMD search.
template <class T>
void max_line(const Contiguous<T>& row, const T* x, T* value, int64_t* index) {
  const T best = row.reduce(negative_infinity<T>(), loader(x), Maximum{});
  const bool find_nan = std::isnan(best);
  const auto matches = [&](auto v) { return find_nan ? xsimd::isnan(v) : v == decltype(v)(best); };
  constexpr int64_t width = kWidth<Batch<T>>;
  int64_t i = 0;
  while (i + width <= row.n && !any(matches(load_lane<Batch<T>>(x + i)))) i += width;
  while (i < row.n && !matches(x[i])) ++i;
  *value = best;
  *index = i;
}

// Columns' running max down the rows; lanes are revisited one by one only when one of them
// improves (rare after the first rows of unordered data).
template <class V>
void max_line(const Strided<V>& columns, const Element<V>* x, Element<V>* values,
              int64_t* indices) {
  V best = load_lane<V>(x);
  store_lane(values, best);
  std::fill_n(indices, kWidth<V>, int64_t{0});
  for (int64_t k = 1; k < columns.n; ++k) {
    const Element<V>* row = x + k * columns.stride;
    if (!any(Beats{}(load_lane<V>(row), best))) continue;
    for (int64_t c = 0; c < kWidth<V>; ++c) {
      if (Beats{}(row[c], values[c])) {
        values[c] = row[c];
        indices[c] = k;
      }
    }
    best = load_lane<V>(values);
  }
}

}  // namespace detail

// values[o, j] = max_k x[o, k, j] and indices[o, j] = the first k attaining it; a NaN is the max
// (as PyTorch). Requires n >= 1.
template <class T>
void max(const T* x, int64_t outer, int64_t n, int64_t inner, T* values, int64_t* indices) {
  assert(n >= 1);
  for_each_line<T>(outer, n, inner, [&](const auto& line, int64_t offset, int64_t reduced) {
    detail::max_line(line, x + offset, values + reduced, indices + reduced);
  });
}

template <class T>
void max_reference(const T* x, int64_t outer, int64_t n, int64_t inner, T* values,
                   int64_t* indices) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) {
      const T* column = x + o * n * inner + j;
      int64_t best = 0;
      for (int64_t k = 1; k < n; ++k) {
        if (detail::Beats{}(column[k * inner], column[best * inner])) best = k;
      }
      values[o * inner + j] = column[best * inner];
      indices[o * inner + j] = best;
    }
  }
}

// mean[o, j] = Σ_k x[o, k, j] / n, var[o, j] = Σ_k (x[o, k, j] - mean)² / max(0, n - correction),
// in two passes (no E[x²] - E[x]² cancellation); a zero divisor gives inf or NaN, as PyTorch.
template <class T>
void variance(const T* x, int64_t outer, int64_t n, int64_t inner, int64_t correction, T* mean_out,
              T* var_out) {
  const T divisor = static_cast<T>(std::max<int64_t>(0, n - correction));
  for_each_line<T>(outer, n, inner, [&](const auto& line, int64_t offset, int64_t reduced) {
    using R = decltype(line.reduce(T(0), loader(x), Add{}));
    const T* p = x + offset;
    const R mean = line.reduce(T(0), loader(p), Add{}) / R(static_cast<T>(n));
    const R squares = line.reduce(
        T(0),
        [&]<class V>(Lane<V>, int64_t i) {
          const V deviation = load_lane<V>(p + i) - V(mean);
          return deviation * deviation;
        },
        Add{});
    store_lane(mean_out + reduced, mean);
    store_lane(var_out + reduced, squares / R(divisor));
  });
}

template <class T>
void variance_reference(const T* x, int64_t outer, int64_t n, int64_t inner, int64_t correction,
                        T* mean_out, T* var_out) {
  const T divisor = static_cast<T>(std::max<int64_t>(0, n - correction));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) {
      const T* column = x + o * n * inner + j;
      T total = 0;
      for (int64_t k = 0; k < n; ++k) total += column[k * inner];
      const T mean = total / static_cast<T>(n);
      T squares = 0;
      for (int64_t k = 0; k < n; ++k)
        squares += (column[k * inner] - mean) * (column[k * inner] - mean);
      mean_out[o * inner + j] = mean;
      var_out[o * inner + j] = squares / divisor;
    }
  }
}

}  // namespace tapegrad::kernels
