// Softmax and log-softmax of a contiguous tensor viewed as [outer, n, inner], along the middle
// axis, and their backward passes (autograd/ops/softmax.cpp derives them). Rows (inner == 1) are
// the fast path; inner > 1 walks kWidth columns at once (see the lines of reduce.hpp).
//
// Both subtract the line's max before exp; log-softmax goes through log-sum-exp.
//
// A fully masked line, all inputs -inf (an attention row whose every key is masked), has no max to
// subtract: softmax gives zeros there, log_softmax gives -inf (log 0), and both backward passes
// give zeros (the outputs do not depend on such inputs). Never NaN; PyTorch gives NaN here
// (pytorch/pytorch#103749). A NaN input makes its whole line NaN.
#pragma once

#include <cmath>
#include <cstdint>

#include "autograd/kernels/reduce.hpp"

namespace tapegrad::kernels {

namespace detail {

// The value to subtract before exp: the line's max, or 0 when the max is -inf (a fully masked
// line), so that exp(x - shift) is 0 there rather than exp(-inf + inf) = NaN.
template <class R>
R softmax_shift(R max) {
  return select(max == negative_infinity<R>(), R(0), max);
}

// y = exp(x - shift) / Σ exp(x - shift) along one line.
template <class T, class Line>
void softmax_line(const Line& line, const T* x, T* y) {
  const auto shift = softmax_shift(line.reduce(negative_infinity<T>(), loader(x), Maximum{}));
  using R = decltype(shift);
  const R total = line.reduce(
      T(0),
      [&]<class V>(Lane<V>, int64_t i) {
        const V e = xsimd::exp(load_lane<V>(x + i) - V(shift));
        store_lane(y + i, e);
        return e;
      },
      Add{});
  const R scale = select(total == R(0), R(0), R(1) / total);
  line.for_each(
      [&]<class V>(Lane<V>, int64_t i) { store_lane(y + i, load_lane<V>(y + i) * V(scale)); });
}

// y = (x - shift) - log Σ exp(x - shift) along one line.
template <class T, class Line>
void log_softmax_line(const Line& line, const T* x, T* y) {
  const auto shift = softmax_shift(line.reduce(negative_infinity<T>(), loader(x), Maximum{}));
  using R = decltype(shift);
  const R total = line.reduce(
      T(0), [&]<class V>(Lane<V>, int64_t i) { return xsimd::exp(load_lane<V>(x + i) - V(shift)); },
      Add{});
  const R log_total = select(total == R(0), R(0), xsimd::log(total));
  line.for_each([&]<class V>(Lane<V>, int64_t i) {
    store_lane(y + i, (load_lane<V>(x + i) - V(shift)) - V(log_total));
  });
}

// dx = y·(g - Σ g·y) along one line.
template <class T, class Line>
void softmax_backward_line(const Line& line, const T* y, const T* g, T* dx) {
  const auto dot = line.reduce(
      T(0), [&]<class V>(Lane<V>, int64_t i) { return load_lane<V>(g + i) * load_lane<V>(y + i); },
      Add{});
  line.for_each([&]<class V>(Lane<V>, int64_t i) {
    const V y_i = load_lane<V>(y + i);
    store_lane(dx + i, y_i * (load_lane<V>(g + i) - V(dot)));
  });
}

// dx = g - exp(y)·Σ g along one line, 0 on a fully masked line (every y = -inf).
template <class T, class Line>
void log_softmax_backward_line(const Line& line, const T* y, const T* g, T* dx) {
  const auto max = line.reduce(negative_infinity<T>(), loader(y), Maximum{});
  const auto masked = max == negative_infinity<decltype(max)>();
  const auto total = line.reduce(T(0), loader(g), Add{});
  line.for_each([&]<class V>(Lane<V>, int64_t i) {
    const V dx_i = load_lane<V>(g + i) - xsimd::exp(load_lane<V>(y + i)) * V(total);
    store_lane(dx + i, select(masked, V(0), dx_i));
  });
}

}  // namespace detail

// y[o, :, j] = softmax(x[o, :, j]); a fully masked line gives zeros.
template <class T>
void softmax(const T* x, int64_t outer, int64_t n, int64_t inner, T* y) {
  for_each_line<T>(outer, n, inner, [&](const auto& line, int64_t offset, int64_t) {
    detail::softmax_line(line, x + offset, y + offset);
  });
}

// y[o, :, j] = log_softmax(x[o, :, j]); a fully masked line gives -inf.
template <class T>
void log_softmax(const T* x, int64_t outer, int64_t n, int64_t inner, T* y) {
  for_each_line<T>(outer, n, inner, [&](const auto& line, int64_t offset, int64_t) {
    detail::log_softmax_line(line, x + offset, y + offset);
  });
}

// dx = y·(g - Σ_k g·y) per line, from the softmax output y and its gradient g.
template <class T>
void softmax_backward(const T* y, const T* g, int64_t outer, int64_t n, int64_t inner, T* dx) {
  for_each_line<T>(outer, n, inner, [&](const auto& line, int64_t offset, int64_t) {
    detail::softmax_backward_line(line, y + offset, g + offset, dx + offset);
  });
}

// dx = g - exp(y)·Σ_k g per line, from the log-softmax output y and its gradient g; 0 on a fully
// masked line.
template <class T>
void log_softmax_backward(const T* y, const T* g, int64_t outer, int64_t n, int64_t inner, T* dx) {
  for_each_line<T>(outer, n, inner, [&](const auto& line, int64_t offset, int64_t) {
    detail::log_softmax_backward_line(line, y + offset, g + offset, dx + offset);
  });
}

namespace detail {

// Calls f(offset, stride) for each of the outer·inner lines: its first element and the distance
// between its elements.
template <class F>
void for_each_line_reference(int64_t outer, int64_t n, int64_t inner, const F& f) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) f(o * n * inner + j, inner);
  }
}

template <class T>
T line_max_reference(const T* x, int64_t n, int64_t stride) {
  T max = negative_infinity<T>();
  for (int64_t k = 0; k < n; ++k) max = Maximum{}(max, x[k * stride]);
  return max;
}

}  // namespace detail

template <class T>
void softmax_reference(const T* x, int64_t outer, int64_t n, int64_t inner, T* y) {
  detail::for_each_line_reference(outer, n, inner, [&](int64_t offset, int64_t stride) {
    const T shift = detail::softmax_shift(detail::line_max_reference(x + offset, n, stride));
    T total = 0;
    for (int64_t k = 0; k < n; ++k) {
      y[offset + k * stride] = std::exp(x[offset + k * stride] - shift);
      total += y[offset + k * stride];
    }
    for (int64_t k = 0; k < n; ++k) {
      y[offset + k * stride] = total == 0 ? T(0) : y[offset + k * stride] / total;
    }
  });
}

template <class T>
void log_softmax_reference(const T* x, int64_t outer, int64_t n, int64_t inner, T* y) {
  detail::for_each_line_reference(outer, n, inner, [&](int64_t offset, int64_t stride) {
    const T shift = detail::softmax_shift(detail::line_max_reference(x + offset, n, stride));
    T total = 0;
    for (int64_t k = 0; k < n; ++k) total += std::exp(x[offset + k * stride] - shift);
    const T log_total = total == 0 ? T(0) : std::log(total);
    for (int64_t k = 0; k < n; ++k) {
      y[offset + k * stride] = (x[offset + k * stride] - shift) - log_total;
    }
  });
}

template <class T>
void softmax_backward_reference(const T* y, const T* g, int64_t outer, int64_t n, int64_t inner,
                                T* dx) {
  detail::for_each_line_reference(outer, n, inner, [&](int64_t offset, int64_t stride) {
    T dot = 0;
    for (int64_t k = 0; k < n; ++k) dot += g[offset + k * stride] * y[offset + k * stride];
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = offset + k * stride;
      dx[i] = y[i] * (g[i] - dot);
    }
  });
}

template <class T>
void log_softmax_backward_reference(const T* y, const T* g, int64_t outer, int64_t n, int64_t inner,
                                    T* dx) {
  detail::for_each_line_reference(outer, n, inner, [&](int64_t offset, int64_t stride) {
    const bool masked = detail::line_max_reference(y + offset, n, stride) == negative_infinity<T>();
    T total = 0;
    for (int64_t k = 0; k < n; ++k) total += g[offset + k * stride];
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = offset + k * stride;
      dx[i] = masked ? T(0) : g[i] - std::exp(y[i]) * total;
    }
  });
}

}  // namespace tapegrad::kernels
