// Generic elementwise loops: one SIMD loop per arity; a functor from functors.hpp says
// what to compute.
//
// The SIMD loop runs over whole batches and finishes the tail with the functor's scalar path; the
// reference beside each is a plain loop through the scalar path only (tests compare the two).
#pragma once

#include <cassert>
#include <cstdint>

#include "autograd/kernels/simd.hpp"

namespace tapegrad::kernels {

// out[i] = op(x[i]) for i < n; out may be x.
template <class T, class Op>
void unary(const T* x, T* out, int64_t n, Op op) {
  for_each_lane<T>(
      n, [&]<class V>(Lane<V>, int64_t i) { store_lane(out + i, op(load_lane<V>(x + i))); });
}

template <class T, class Op>
void unary_reference(const T* x, T* out, int64_t n, Op op) {
  for (int64_t i = 0; i < n; ++i) out[i] = op(x[i]);
}

namespace detail {

// Calls f with a body reading an operand's lane at element i: p[i..] when step is 1, the single
// value *p broadcast when step is 0.
template <class T, class F>
void with_operand(const T* p, int64_t step, const F& f) {
  assert(step == 0 || step == 1);
  if (step == 0) {
    f([value = *p]<class V>(Lane<V>, int64_t) { return V(value); });
  } else {
    f(loader(p));
  }
}

}  // namespace detail

// out[i] = op(a[i·a_step], b[i·b_step]) for i < n, each step 0 (broadcast one value) or 1
// (contiguous); out may be a or b when that operand's step is 1.
template <class T, class Op>
void binary(const T* a, int64_t a_step, const T* b, int64_t b_step, T* out, int64_t n, Op op) {
  if (n == 0) return;
  detail::with_operand(a, a_step, [&](const auto& a_at) {
    detail::with_operand(b, b_step, [&](const auto& b_at) {
      for_each_lane<T>(n, [&]<class V>(Lane<V> lane, int64_t i) {
        store_lane(out + i, op(a_at(lane, i), b_at(lane, i)));
      });
    });
  });
}

template <class T, class Op>
void binary_reference(const T* a, int64_t a_step, const T* b, int64_t b_step, T* out, int64_t n,
                      Op op) {
  for (int64_t i = 0; i < n; ++i) out[i] = op(a[i * a_step], b[i * b_step]);
}

}  // namespace tapegrad::kernels
