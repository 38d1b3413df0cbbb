// Inverted dropout: while training, each element is zeroed with probability p and the kept ones
// are scaled by 1/(1-p), so the expected output is the input and evaluation needs no rescaling.
// The mask comes from `generator` (the same seed gives the same mask) and is kept for backward.
#pragma once

#include "autograd/generator.hpp"
#include "autograd/tensor.hpp"

namespace tapegrad {

// x itself when !training or p == 0; zeros when p == 1; p outside [0, 1] is an error.
Tensor dropout(const Tensor& x, double p, bool training,
               Generator& generator = default_generator());

}  // namespace tapegrad
