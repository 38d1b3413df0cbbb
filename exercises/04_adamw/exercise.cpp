// Exercise 4: write adamw_step here (statement: exercises/README.md).
#include "exercises/04_adamw/adamw_step.hpp"

namespace tapegrad::exercises {

void adamw_step([[maybe_unused]] Tensor& param, [[maybe_unused]] AdamWState& state,
                [[maybe_unused]] const optim::AdamWOptions& options) {
  // Under a NoGradGuard: update state, compute the new values, then param.set_data(new values).
  throw Error("exercise 4: not done yet");
}

}  // namespace tapegrad::exercises
