// Generic elementwise loops: one SIMD loop per arity; a functor from functors.hpp says
// what to compute.
//
// The SIMD loop runs over whole batches and finishes the tail with the functor's scalar path; the
// reference beside each is a plain loop through the scalar path only (tests compare the two).
// Long loops are shared among threads in pieces of whole batches (see parallel.hpp).
#pragma once

#include <algorithm>
#include <cassert>
#include <cstdint>

#include "autograd/kernels/parallel.hpp"
#include "autograd/kernels/simd.hpp"

namespace tapegrad::kernels {

// Elements per piece of a parallel elementwise loop: whole batches, so that every element takes
// the same (batch or tail) path whatever the number of threads.
template <class T>
inline constexpr int64_t kPiece = kWidth<Batch<T>> * 64;

// Calls body(lane<V>, i) for i in [0, n) as for_each_lane, over pieces shared among threads.
template <class T, class Body>
void parallel_for_each_lane(int64_t n, const Body& body) {
  parallel_chunks(n, kPiece<T>, [&](int64_t begin, int64_t end) {
    for_each_lane<T>(end - begin, [&]<class V>(Lane<V> lane, int64_t i) { body(lane, begin + i); });
  });
}

// out[i] = value for i < n, for any element type.
template <class T>
void fill(T* out, int64_t n, T value) {
  parallel_chunks(n, 4096,
                  [&](int64_t begin, int64_t end) { std::fill(out + begin, out + end, value); });
}

// out[i] = op(x[i]) for i < n; out may be x.
template <class T, class Op>
void unary(const T* x, T* out, int64_t n, Op op) {
  parallel_for_each_lane<T>(
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
// (contiguous), on the calling thread: for callers that share rows among threads themselves.
template <class T, class Op>
void binary_row(const T* a, int64_t a_step, const T* b, int64_t b_step, T* out, int64_t n, Op op) {
  if (n == 0) return;
  detail::with_operand(a, a_step, [&](const auto& a_at) {
    detail::with_operand(b, b_step, [&](const auto& b_at) {
      for_each_lane<T>(n, [&]<class V>(Lane<V> lane, int64_t i) {
        store_lane(out + i, op(a_at(lane, i), b_at(lane, i)));
      });
    });
  });
}

// binary_row over pieces shared among threads; out may be a or b when that operand's step is 1.
template <class T, class Op>
void binary(const T* a, int64_t a_step, const T* b, int64_t b_step, T* out, int64_t n, Op op) {
  parallel_chunks(n, kPiece<T>, [&](int64_t begin, int64_t end) {
    binary_row(a + begin * a_step, a_step, b + begin * b_step, b_step, out + begin, end - begin,
               op);
  });
}

template <class T, class Op>
void binary_reference(const T* a, int64_t a_step, const T* b, int64_t b_step, T* out, int64_t n,
                      Op op) {
  for (int64_t i = 0; i < n; ++i) out[i] = op(a[i * a_step], b[i * b_step]);
}

}  // namespace tapegrad::kernels
