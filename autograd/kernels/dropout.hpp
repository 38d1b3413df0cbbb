// Dropout's mask from a counter-based hash, and the fused kernel out = x·mask/(1-p).
//
// Element i of a call is kept iff bits(seed, i) >= threshold, where bits is a keyed 32-bit hash
// of the element's index: two rounds of Wellons' lowbias32 mixer (a bijection of 32-bit words
// with full avalanche), the 64-bit seed entering as two xor-ed keys. Any element's decision can be
// computed on its own, so the mask is the same for any split of the work among threads and SIMD
// batches, and the backward recomputes it from the seed instead of storing it.
//
// The hash runs in unsigned lanes as wide as T's (uint32 beside float, uint64 beside double, all
// values below 2^32 there), so a kept or dropped lane is chosen by a bitwise select.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <numeric>

#include "autograd/kernels/parallel.hpp"
#include "autograd/kernels/simd.hpp"

namespace tapegrad::kernels {

// A call's mask: element i is dropped iff bits(seed, i) < threshold, probability threshold / 2^32.
struct DropoutMask {
  uint64_t seed = 0;
  uint32_t threshold = 0;
};

// The mask dropping each element with probability p, for p in [0, 1): threshold = round(p·2^32).
inline DropoutMask dropout_mask(uint64_t seed, double p) {
  const double threshold = p * 4294967296.0 + 0.5;
  return {seed,
          threshold >= 4294967295.0 ? uint32_t{0xFFFFFFFF} : static_cast<uint32_t>(threshold)};
}

namespace detail {

// The unsigned lane as wide as the float lane V.
template <class V>
struct BitsOf {
  using type = std::conditional_t<sizeof(V) == 4, uint32_t, uint64_t>;
};
template <class T, class A>
struct BitsOf<xsimd::batch<T, A>> {
  using type = xsimd::batch<typename BitsOf<T>::type, A>;
};
template <class V>
using Bits = typename BitsOf<V>::type;

template <class To, class From>
To bit_cast_lane(const From& v) {
  if constexpr (kWidth<From> == 1) {
    return std::bit_cast<To>(v);
  } else {
    return xsimd::bitwise_cast<To>(v);
  }
}

// lowbias32 (Chris Wellons' hash-prospector): x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15;
// x *= 0x846ca68b; x ^= x >> 16, in the low 32 bits of each lane.
template <class U>
U mix32(U x) {
  const auto low32 = [](U v) {
    if constexpr (sizeof(Element<U>) == 4) {
      return v;
    } else {
      return v & U(0xFFFFFFFF);
    }
  };
  x ^= x >> 16;
  x = low32(x * U(0x7feb352d));
  x ^= x >> 15;
  x = low32(x * U(0x846ca68b));
  x ^= x >> 16;
  return x;
}

// The keys of the 2^32 elements starting at chunk·2^32.
struct HashKeys {
  uint32_t first, second;
};
inline HashKeys hash_keys(uint64_t seed, uint64_t chunk) {
  return {static_cast<uint32_t>(seed),
          static_cast<uint32_t>(seed >> 32) ^ mix32(static_cast<uint32_t>(chunk))};
}

// k in lane k: 0 for a scalar, 0, 1, ..., kWidth - 1 for a batch.
template <class U>
U lane_offsets() {
  if constexpr (kWidth<U> == 1) {
    return U(0);
  } else {
    alignas(64) static constexpr auto offsets = [] {
      std::array<Element<U>, kWidth<U>> values{};
      std::iota(values.begin(), values.end(), Element<U>(0));
      return values;
    }();
    return U::load_aligned(offsets.data());
  }
}

// The hash bits of the lanes' indices (their low 32 bits) under keys.
template <class U>
U hash_bits(U index, const HashKeys& keys) {
  return mix32(mix32(index ^ U(keys.first)) ^ U(keys.second));
}

// out[k] = x[k]·scale if element first + k is kept, else 0, for k < n; the n elements lie in one
// chunk of 2^32.
template <class T>
void dropout_chunk(const T* x, T* out, int64_t n, uint64_t first, const DropoutMask& mask,
                   T scale) {
  const HashKeys keys = hash_keys(mask.seed, first >> 32);
  const uint32_t low = static_cast<uint32_t>(first);
  for_each_lane<T>(n, [&]<class V>(Lane<V>, int64_t k) {
    using U = Bits<V>;
    const U index = U(low + static_cast<uint32_t>(k)) + lane_offsets<U>();
    const U bits = hash_bits(index, keys);
    const U kept = bit_cast_lane<U>(load_lane<V>(x + k) * V(scale));
    store_lane(out + k, bit_cast_lane<V>(select(bits >= U(mask.threshold), kept, U(0))));
  });
}

}  // namespace detail

// out[i] = x[i]·scale where the mask keeps element i, else 0 (exactly 0, even for an infinite or
// NaN x[i]), for i < n; out may be x. Parallel over fixed blocks; the same result on any thread
// count.
template <class T>
void dropout(const T* x, T* out, int64_t n, const DropoutMask& mask, T scale) {
  constexpr int64_t kChunk = int64_t{1} << 32;
  parallel_chunks(n, kWidth<Batch<T>> * 64, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end;) {
      const int64_t stop = std::min(end, (i / kChunk + 1) * kChunk);
      detail::dropout_chunk(x + i, out + i, stop - i, static_cast<uint64_t>(i), mask, scale);
      i = stop;
    }
  });
}

template <class T>
void dropout_reference(const T* x, T* out, int64_t n, const DropoutMask& mask, T scale) {
  for (int64_t i = 0; i < n; ++i) {
    const detail::HashKeys keys = detail::hash_keys(mask.seed, static_cast<uint64_t>(i) >> 32);
    const uint32_t bits = detail::hash_bits(static_cast<uint32_t>(i), keys);
    out[i] = bits >= mask.threshold ? x[i] * scale : T(0);
  }
}

}  // namespace tapegrad::kernels
