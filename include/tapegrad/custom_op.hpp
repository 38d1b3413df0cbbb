// Writing an elementwise op outside the library: what it needs, in one header. README.md's "Add
// an op in four steps" says it step by step; examples/custom_op.cpp is the whole of it (softplus).
//
//   struct Cube {  // the forward, on a float or double or an xsimd batch of them
//     template <class V>
//     V operator()(V x) const { return x * x * x; }
//   };
//   struct CubeGrad {  // the backward: the incoming gradient g and the saved input x in
//     template <class V>
//     V operator()(V g, V x) const { return g * V(3) * x * x; }
//   };
//   Tensor cube(const Tensor& x) {
//     const Tensor y = map_unary("cube", x, Cube{});
//     // y = x³ ⇒ dy/dx = 3x², so ∂L/∂x = g·3x²
//     return record("cube", y, {x}, [x = saved_input(x)](const Tensor& g) -> Grads {
//       return {map_grad("cube", g, x, CubeGrad{})};
//     });
//   }
//   gradcheck_unary(cube, randn({3, 4}))  // true when backward matches central differences
//
// map_unary, map_grad and saved_input: autograd/ops/map_unary.hpp (how to write a functor);
// record and Grads: autograd/tape.hpp; gradcheck: autograd/gradcheck.hpp.
#pragma once

#include <vector>

#include "autograd/gradcheck.hpp"
#include "autograd/ops/map_unary.hpp"
#include "autograd/tape.hpp"
#include "autograd/tensor.hpp"

namespace tapegrad {

// gradcheck of y = op(x) in float64, at x's values as a leaf that requires grad: x's own
// elements, in x's layout (contiguous or not), when x is float64 (gradcheck perturbs them and
// restores them), else a float64 copy. True when every derivative matches; else, with the default
// options, an Error naming the first element that does not.
template <class Op>
bool gradcheck_unary(const Op& op, const Tensor& x, const GradcheckOptions& options = {}) {
  Tensor input = x.dtype() == kFloat64 ? x.detach() : x.detach().to(kFloat64);
  input.requires_grad_();
  return gradcheck([&](const std::vector<Tensor>& inputs) { return op(inputs[0]); }, {input},
                   options);
}

}  // namespace tapegrad
