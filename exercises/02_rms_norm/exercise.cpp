// Exercise 2: write RMSNorm's constructor and forward here (statement: exercises/README.md).
#include "exercises/02_rms_norm/rms_norm.hpp"

namespace tapegrad::exercises {

RMSNorm::RMSNorm([[maybe_unused]] int64_t dim, double eps_) : eps(eps_) {
  // Make weight, then register it as the parameter "weight".
  throw Error("exercise 2: not done yet");
}

Tensor RMSNorm::forward([[maybe_unused]] const Tensor& x) {
  // x / √(mean(x²) + ε) · weight, the mean over the last dim.
  throw Error("exercise 2: not done yet");
}

}  // namespace tapegrad::exercises
