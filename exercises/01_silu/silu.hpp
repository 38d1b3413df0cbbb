// Exercise 1: an op and its backward (statement: exercises/README.md). Write silu in
// exercise.cpp; test.cpp grades it.
#pragma once

#include <tapegrad/tapegrad.hpp>

namespace tapegrad::exercises {

// SiLU (also called swish), elementwise, as one op on the tape named "silu" whose backward you
// write:
//   silu(x) = x·σ(x),   σ(x) = 1 / (1 + e⁻ˣ)
// float32 or float64; the output has x's shape and dtype.
Tensor silu(const Tensor& x);

}  // namespace tapegrad::exercises
