// Exercise 7: write quantize_rows and int8_linear here (statement: exercises/README.md).
#include "exercises/07_int8_linear/int8_linear.hpp"

namespace tapegrad::exercises {

QuantizedRows quantize_rows([[maybe_unused]] const Tensor& x) {
  // Tensor::empty({R, K}, kInt8) and Tensor::empty({R}, kFloat32), then a loop over the rows of
  // x.contiguous(): its largest |element| first, then each element scaled and rounded.
  throw Error("exercise 7: not done yet");
}

Tensor int8_linear([[maybe_unused]] const Tensor& x, [[maybe_unused]] const QuantizedRows& weight,
                   [[maybe_unused]] const Tensor& bias) {
  // quantize_rows(x), then three loops (m, n, k) summing int32 products, then the scales.
  throw Error("exercise 7: not done yet");
}

}  // namespace tapegrad::exercises
