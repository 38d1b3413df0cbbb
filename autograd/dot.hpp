// to_dot: the graph behind a tensor as Graphviz text, for learners: one box per leaf (with its
// shape), one ellipse per op (its name and output shape), arrows from inputs to ops.
//   std::ofstream("loss.dot") << to_dot(loss);   then: dot -Tsvg loss.dot -o loss.svg
#pragma once

#include <string>

#include "autograd/tensor.hpp"

namespace tapegrad {

std::string to_dot(const Tensor& root);

}  // namespace tapegrad
