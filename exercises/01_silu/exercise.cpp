// Exercise 1: write silu and its backward here (statement: exercises/README.md).
#include "exercises/01_silu/silu.hpp"

namespace tapegrad::exercises {

Tensor silu([[maybe_unused]] const Tensor& x) {
  // Compute x·σ(x) on x.detach(), then return record("silu", output, {x}, backward), where
  // backward maps the output's gradient g to {∂L/∂x}. If it needs the output, it keeps
  // output.detach() (docs/tape.md, "Recording": the output itself would make a cycle).
  throw Error("exercise 1: not done yet");
}

}  // namespace tapegrad::exercises
