// Strided to contiguous copy, with a type conversion: what contiguous(), to(dtype) and reading
// values out of a view all come down to. The innermost dim is the loop; the others are counted
// like an odometer.
#pragma once

#include <cstdint>
#include <vector>

namespace tapegrad::kernels {

// dst[i] = Dst(src[offset of the i-th element in row-major order of `shape`]).
template <class Src, class Dst>
void strided_copy(const Src* src, const std::vector<int64_t>& shape,
                  const std::vector<int64_t>& strides, Dst* dst) {
  const std::size_t ndim = shape.size();
  if (ndim == 0) {
    *dst = static_cast<Dst>(*src);
    return;
  }
  for (int64_t size : shape)
    if (size == 0) return;
  const int64_t inner = shape[ndim - 1];
  const int64_t inner_stride = strides[ndim - 1];
  std::vector<int64_t> index(ndim - 1, 0);
  int64_t offset = 0;
  while (true) {
    const Src* row = src + offset;
    if (inner_stride == 1) {
      for (int64_t i = 0; i < inner; ++i) dst[i] = static_cast<Dst>(row[i]);
    } else {
      for (int64_t i = 0; i < inner; ++i) dst[i] = static_cast<Dst>(row[i * inner_stride]);
    }
    dst += inner;
    std::size_t d = ndim - 1;  // advance the odometer over the outer dims
    while (d-- > 0) {
      offset += strides[d];
      if (++index[d] < shape[d]) break;
      offset -= strides[d] * shape[d];
      index[d] = 0;
    }
    if (d == static_cast<std::size_t>(-1)) return;
  }
}

}  // namespace tapegrad::kernels
