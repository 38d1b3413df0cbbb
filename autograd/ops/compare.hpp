// Comparisons and logic, giving bool tensors: eq, ne, lt, le, gt, ge between two tensors of one
// dtype (NumPy broadcasting) or a tensor and a number; logical_and, logical_or, logical_not on
// bool tensors. Not differentiable: the results never require grad.
//
// Masks are bool tensors where true = may attend; combine them with && and ||:
//   Tensor mask = causal_mask(T) && padding_mask(lengths, T);
#pragma once

#include "autograd/tensor.hpp"

namespace tapegrad {

Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

// The number is compared in the tensor's dtype when it is floating, else as a double.
Tensor eq(const Tensor& a, double b);
Tensor ne(const Tensor& a, double b);
Tensor lt(const Tensor& a, double b);
Tensor le(const Tensor& a, double b);
Tensor gt(const Tensor& a, double b);
Tensor ge(const Tensor& a, double b);

Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& x);

// Equality helpers for tests, as torch.allclose and torch.equal: a and b have the same shape and
// every |a - b| <= atol + rtol * |b| (NaN equal to NaN only with equal_nan); equal: the same
// shape and exactly the same values.
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8,
              bool equal_nan = false);
bool equal(const Tensor& a, const Tensor& b);

inline Tensor operator&&(const Tensor& a, const Tensor& b) { return logical_and(a, b); }
inline Tensor operator||(const Tensor& a, const Tensor& b) { return logical_or(a, b); }
inline Tensor operator!(const Tensor& x) { return logical_not(x); }

}  // namespace tapegrad
