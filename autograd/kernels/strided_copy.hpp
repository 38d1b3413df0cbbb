// Strided to contiguous copy, with a type conversion: what contiguous(), to(dtype) and reading
// values out of a view all come down to.
//
// Dims are first coalesced (size-1 dims dropped, neighbours that the source walks as one merged).
// When the source's innermost dim is contiguous, rows are copied (the outer dims counted like an
// odometer); when it is not but another dim is (a transposed view), the two are copied in square
// tiles, so that reads and writes both stay within a few cache lines. Rows or tiles are shared
// among threads; each element is copied once, so the result does not depend on the split.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "autograd/kernels/parallel.hpp"

namespace tapegrad::kernels {

namespace detail {

// A strided layout with its dims coalesced; empty sizes for one element.
struct CoalescedLayout {
  std::vector<int64_t> sizes, strides;
};

inline CoalescedLayout coalesce(const std::vector<int64_t>& shape,
                                const std::vector<int64_t>& strides) {
  CoalescedLayout layout;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!layout.sizes.empty() && layout.strides.back() == strides[d] * shape[d]) {
      layout.sizes.back() *= shape[d];
      layout.strides.back() = strides[d];
      continue;
    }
    layout.sizes.push_back(shape[d]);
    layout.strides.push_back(strides[d]);
  }
  return layout;
}

// The offset, under `strides`, of the `index`-th combination of the dims `dims` (row-major among
// them) of a layout of `sizes`.
inline int64_t offset_of(int64_t index, const std::vector<int64_t>& sizes,
                         const std::vector<int64_t>& strides,
                         const std::vector<std::size_t>& dims) {
  int64_t offset = 0;
  for (std::size_t k = dims.size(); k-- > 0;) {
    offset += index % sizes[dims[k]] * strides[dims[k]];
    index /= sizes[dims[k]];
  }
  return offset;
}

// Walks the first `dims` dims of a layout like an odometer, from combination `index`, keeping the
// source offset.
class Odometer {
 public:
  Odometer(const CoalescedLayout& layout, std::size_t dims, int64_t index)
      : layout_(layout), index_(dims, 0) {
    for (std::size_t d = dims; d-- > 0;) {
      index_[d] = index % layout_.sizes[d];
      offset_ += index_[d] * layout_.strides[d];
      index /= layout_.sizes[d];
    }
  }
  int64_t offset() const { return offset_; }
  void next() {
    for (std::size_t d = index_.size(); d-- > 0;) {
      offset_ += layout_.strides[d];
      if (++index_[d] < layout_.sizes[d]) return;
      offset_ -= layout_.strides[d] * layout_.sizes[d];
      index_[d] = 0;
    }
  }

 private:
  const CoalescedLayout& layout_;
  std::vector<int64_t> index_;
  int64_t offset_ = 0;
};

// Side of the square tiles of the transposing path.
inline constexpr int64_t kCopyTile = 16;

// Rows of the innermost dim, shared among threads.
template <class Src, class Dst>
void copy_rows(const Src* src, const CoalescedLayout& layout, Dst* dst) {
  const std::size_t inner_dim = layout.sizes.size() - 1;
  const int64_t n = layout.sizes[inner_dim], stride = layout.strides[inner_dim];
  int64_t rows = 1;
  for (std::size_t d = 0; d < inner_dim; ++d) rows *= layout.sizes[d];
  parallel_for(rows, n, [&](int64_t first, int64_t last) {
    Odometer row(layout, inner_dim, first);
    for (int64_t r = first; r < last; ++r, row.next()) {
      const Src* from = src + row.offset();
      Dst* to = dst + r * n;
      if (stride == 1) {
        for (int64_t i = 0; i < n; ++i) to[i] = static_cast<Dst>(from[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) to[i] = static_cast<Dst>(from[i * stride]);
      }
    }
  });
}

// The innermost dim strided and dim `across` contiguous in the source: tiles of kCopyTile x
// kCopyTile elements of the (across, innermost) plane, for each combination of the other dims.
template <class Src, class Dst>
void copy_tiles(const Src* src, const CoalescedLayout& layout, std::size_t across, Dst* dst) {
  const std::size_t inner_dim = layout.sizes.size() - 1;
  const int64_t n = layout.sizes[inner_dim], stride = layout.strides[inner_dim];
  const int64_t m = layout.sizes[across];
  std::vector<int64_t> dst_strides(layout.sizes.size());  // the contiguous destination's
  for (std::size_t d = layout.sizes.size(), after = 1; d-- > 0;) {
    dst_strides[d] = static_cast<int64_t>(after);
    after *= static_cast<std::size_t>(layout.sizes[d]);
  }
  std::vector<std::size_t> others;  // every dim but `across` and the innermost, in order
  int64_t combinations = 1;
  for (std::size_t d = 0; d < inner_dim; ++d) {
    if (d == across) continue;
    others.push_back(d);
    combinations *= layout.sizes[d];
  }
  const int64_t tile_rows = (m + kCopyTile - 1) / kCopyTile;
  parallel_for(combinations * tile_rows, kCopyTile * n, [&](int64_t first, int64_t last) {
    for (int64_t item = first; item < last; ++item) {
      const int64_t combination = item / tile_rows;
      const Src* from = src + offset_of(combination, layout.sizes, layout.strides, others);
      Dst* to = dst + offset_of(combination, layout.sizes, dst_strides, others);
      const int64_t i0 = item % tile_rows * kCopyTile, i1 = std::min(m, i0 + kCopyTile);
      for (int64_t j0 = 0; j0 < n; j0 += kCopyTile) {
        const int64_t j1 = std::min(n, j0 + kCopyTile);
        for (int64_t i = i0; i < i1; ++i) {
          for (int64_t j = j0; j < j1; ++j)
            to[i * dst_strides[across] + j] = static_cast<Dst>(from[i + j * stride]);
        }
      }
    }
  });
}

}  // namespace detail

// dst[i] = Dst(src[offset of the i-th element in row-major order of `shape`]).
template <class Src, class Dst>
void strided_copy(const Src* src, const std::vector<int64_t>& shape,
                  const std::vector<int64_t>& strides, Dst* dst) {
  for (int64_t size : shape)
    if (size == 0) return;
  const detail::CoalescedLayout layout = detail::coalesce(shape, strides);
  if (layout.sizes.empty()) {
    *dst = static_cast<Dst>(*src);
    return;
  }
  const std::size_t inner_dim = layout.sizes.size() - 1;
  if (layout.strides[inner_dim] != 1) {
    for (std::size_t d = 0; d < inner_dim; ++d) {
      if (layout.strides[d] == 1) return detail::copy_tiles(src, layout, d, dst);
    }
  }
  detail::copy_rows(src, layout, dst);
}

template <class Src, class Dst>
void strided_copy_reference(const Src* src, const std::vector<int64_t>& shape,
                            const std::vector<int64_t>& strides, Dst* dst) {
  int64_t count = 1;
  for (int64_t size : shape) count *= size;
  for (int64_t i = 0; i < count; ++i) {
    int64_t offset = 0, rest = i;
    for (std::size_t d = shape.size(); d-- > 0;) {
      offset += rest % shape[d] * strides[d];
      rest /= shape[d];
    }
    dst[i] = static_cast<Dst>(src[offset]);
  }
}

}  // namespace tapegrad::kernels
