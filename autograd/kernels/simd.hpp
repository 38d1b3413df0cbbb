// Lanes: one kernel body written once for a scalar T and for an xsimd::batch<T>.
//
// A kernel body is a generic lambda over the lane type V, which is either T (one element: tails,
// single columns, references) or Batch<T> (kWidth<Batch<T>> contiguous elements, from any
// alignment). load_lane, store_lane, select and any work the same on both. Math comes from xsimd,
// which re-exports the std:: functions for scalars: xsimd::exp(x) is std::exp on a T and the SIMD
// exp on a batch.
#pragma once

#include <cstdint>
#include <limits>
#include <type_traits>

// GCC 12.2's AVX-512 headers trip -Wuninitialized on _mm512_undefined_*() once inlined (GCC bug
// 105593, fixed in 12.3); the warning is judged where the intrinsic is defined, so silence it
// there.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)  // clang has no -Wmaybe-uninitialized, and warns about the name
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#include <xsimd/xsimd.hpp>
#pragma GCC diagnostic pop

namespace tapegrad::kernels {

// The instruction set of every batch: xsimd's best for the target, except for unoptimised builds
// with AVX-512BW, where xsimd 8.1's avx512bw integer select (used inside xsimd::log) does not
// compile against GCC's -O0 intrinsic macros; avx512dq has the same width without that path.
#if defined(__AVX512BW__) && defined(__AVX512DQ__) && !defined(__OPTIMIZE__)
using Arch = xsimd::avx512dq;
#else
using Arch = xsimd::default_arch;
#endif

template <class T>
using Batch = xsimd::batch<T, Arch>;

template <class V>
struct LaneTraits {
  using Element = V;
  static constexpr int64_t kWidth = 1;
};
template <class T, class A>
struct LaneTraits<xsimd::batch<T, A>> {
  using Element = T;
  static constexpr int64_t kWidth = static_cast<int64_t>(xsimd::batch<T, A>::size);
};

// The element type of a lane (T for both T and Batch<T>) and how many elements it holds.
template <class V>
using Element = typename LaneTraits<std::remove_cv_t<V>>::Element;
template <class V>
inline constexpr int64_t kWidth = LaneTraits<std::remove_cv_t<V>>::kWidth;

// A tag naming a lane type, passed to generic bodies: [&]<class V>(Lane<V>, int64_t i) { ... }.
template <class V>
using Lane = std::type_identity<V>;
template <class V>
inline constexpr Lane<V> lane{};

// The lane of kWidth<V> elements starting at p.
template <class V>
V load_lane(const Element<V>* p) {
  if constexpr (kWidth<V> == 1) {
    return *p;
  } else {
    return V::load_unaligned(p);
  }
}

// Writes the lane v to the kWidth<V> elements starting at p.
template <class T>
void store_lane(T* p, T v) {
  *p = v;
}
template <class T, class A>
void store_lane(T* p, const xsimd::batch<T, A>& v) {
  v.store_unaligned(p);
}

// Scalar forms of xsimd::select and xsimd::any (argument-dependent lookup finds xsimd's for
// batches).
template <class T>
T select(bool condition, T if_true, T if_false) {
  return condition ? if_true : if_false;
}
inline bool any(bool condition) { return condition; }

template <class V>
V negative_infinity() {
  return V(-std::numeric_limits<Element<V>>::infinity());
}

// A body reading the lane at p + i.
template <class T>
auto loader(const T* p) {
  return [p]<class V>(Lane<V>, int64_t i) { return load_lane<V>(p + i); };
}

// Calls body(lane<V>, i) for i in [0, n): Batch<T> lanes over the body, T lanes on the tail.
template <class T, class Body>
void for_each_lane(int64_t n, const Body& body) {
  constexpr int64_t width = kWidth<Batch<T>>;
  int64_t i = 0;
  for (; i + width <= n; i += width) body(lane<Batch<T>>, i);
  for (; i < n; ++i) body(lane<T>, i);
}

}  // namespace tapegrad::kernels
