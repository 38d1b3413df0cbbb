#include "autograd/ops/unary.hpp"

#include "autograd/kernels/functors.hpp"
#include "autograd/ops/map_unary.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {

Tensor exp(const Tensor& x) {
  const Tensor y = map_unary("exp", x, kernels::Exp{});
  // y = eˣ: dy/dx = eˣ = y, so ∂L/∂x = g·y
  return record("exp", y, {x}, [y = saved(y)](const Tensor& g) -> Grads {
    return {map_grad("exp", g, y, kernels::ExpGrad{})};
  });
}

Tensor log(const Tensor& x) {
  const Tensor y = map_unary("log", x, kernels::Log{});
  // y = ln x: dy/dx = 1/x, so ∂L/∂x = g/x
  return record("log", y, {x}, [x = saved_input(x)](const Tensor& g) -> Grads {
    return {map_grad("log", g, x, kernels::LogGrad{})};
  });
}

Tensor sqrt(const Tensor& x) {
  const Tensor y = map_unary("sqrt", x, kernels::Sqrt{});
  // y = x^½: dy/dx = ½·x^(-½) = 1/(2y), so ∂L/∂x = g/(2y)
  return record("sqrt", y, {x}, [y = saved(y)](const Tensor& g) -> Grads {
    return {map_grad("sqrt", g, y, kernels::SqrtGrad{})};
  });
}

Tensor abs(const Tensor& x) {
  const Tensor y = map_unary("abs", x, kernels::Abs{});
  // y = |x| = x·sign(x): dy/dx = sign(x) for x ≠ 0, and 0 (a subgradient) at x = 0
  return record("abs", y, {x}, [x = saved_input(x)](const Tensor& g) -> Grads {
    return {map_grad("abs", g, x, kernels::AbsGrad{})};
  });
}

Tensor tanh(const Tensor& x) {
  const Tensor y = map_unary("tanh", x, kernels::Tanh{});
  // y = tanh x = sinh x / cosh x: dy/dx = (cosh² x - sinh² x) / cosh² x = 1 - y²,
  // so ∂L/∂x = g·(1 - y²)
  return record("tanh", y, {x}, [y = saved(y)](const Tensor& g) -> Grads {
    return {map_grad("tanh", g, y, kernels::TanhGrad{})};
  });
}

Tensor sigmoid(const Tensor& x) {
  const Tensor y = map_unary("sigmoid", x, kernels::Sigmoid{});
  // y = σ(x) = 1/(1 + e⁻ˣ): dy/dx = e⁻ˣ/(1 + e⁻ˣ)² = y·(1 - y), so g·y·(1 - y)
  return record("sigmoid", y, {x}, [y = saved(y)](const Tensor& g) -> Grads {
    return {map_grad("sigmoid", g, y, kernels::SigmoidGrad{})};
  });
}

Tensor relu(const Tensor& x) {
  const Tensor y = map_unary("relu", x, kernels::Relu{});
  // y = max(x, 0): dy/dx = 1 for x > 0, 0 for x < 0 (and 0 at x = 0), so g where x > 0, else 0
  return record("relu", y, {x},
                [x = saved_input(x)](const Tensor& g) -> Grads { return {relu_backward(g, x)}; });
}

Tensor relu_backward(const Tensor& g, const Tensor& x) {
  return map_grad("relu backward", g, x, kernels::ReluGrad{});
}

Tensor gelu(const Tensor& x) {
  const Tensor y = map_unary("gelu", x, kernels::Gelu{});
  // y = x·Φ(x), Φ the normal CDF and φ = Φ' its density: dy/dx = Φ(x) + x·φ(x),
  // so ∂L/∂x = g·(Φ(x) + x·φ(x))
  return record("gelu", y, {x}, [x = saved_input(x)](const Tensor& g) -> Grads {
    return {map_grad("gelu", g, x, kernels::GeluGrad{})};
  });
}

Tensor clamp(const Tensor& x, double min, double max) {
  if (!(min <= max))
    fail("clamp: min {} is above max {} for the tensor of shape {}", min, max, x.shape());
  const Tensor y = map_unary("clamp", x, [=]<class T>() {
    return kernels::Clamp<T>{T(min), T(max)};
  });
  // y = x inside [min, max] (slope 1, the bounds included), constant outside (slope 0), so
  // ∂L/∂x = g where min <= x <= max, else 0
  return record("clamp", y, {x}, [x = saved_input(x), min, max](const Tensor& g) -> Grads {
    return {map_grad("clamp", g, x, [=]<class T>() {
      return kernels::ClampGrad<T>{T(min), T(max)};
    })};
  });
}

Tensor pow(const Tensor& x, double exponent) {
  const Tensor y = map_unary("pow", x, [=]<class T>() { return kernels::Pow<T>{T(exponent)}; });
  // y = xᵖ: dy/dx = p·xᵖ⁻¹, so ∂L/∂x = g·p·xᵖ⁻¹ (0 for p = 0, where y = 1)
  return record("pow", y, {x}, [x = saved_input(x), exponent](const Tensor& g) -> Grads {
    return {map_grad("pow", g, x, [=]<class T>() { return kernels::PowGrad<T>{T(exponent)}; })};
  });
}

}  // namespace tapegrad
