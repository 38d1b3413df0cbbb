// Exercise 6: four ops with hand-written backwards, two of them wrong. Your checker
// (gradient_check.hpp) must tell which; try it before you read suspect_ops.cpp.
#pragma once

#include <tapegrad/tapegrad.hpp>

namespace tapegrad::exercises {

// Elementwise, float64:
//   softsign(x) = x / (1 + |x|)
Tensor softsign(const Tensor& x);
Tensor softsign_with_planted_bug(const Tensor& x);

// Elementwise over a and b of one shape, float64:
//   hypot(a, b) = √(a² + b²)
Tensor hypot(const Tensor& a, const Tensor& b);
Tensor hypot_with_planted_bug(const Tensor& a, const Tensor& b);

}  // namespace tapegrad::exercises
