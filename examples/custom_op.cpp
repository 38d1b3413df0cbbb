// A new op written outside the library, as README.md's "Add an op in four steps" says: softplus,
// y = ln(1 + eˣ), from a forward and a backward functor, map_unary, record and map_grad
// (<tapegrad/custom_op.hpp>). It checks its gradient against central differences in float64 and
// its values against hand-computed ones, and exits 1 on a mismatch. It includes only installed
// headers: CI builds it against an installed tapegrad (tests/consumer), and in this tree
//   ctest --test-dir build/release -R '^gradcheck softplus'
// runs it (build/release/examples/custom_op).
#include <tapegrad/custom_op.hpp>
#include <tapegrad/tapegrad.hpp>

#include <cmath>
#include <exception>
#include <vector>

using namespace tapegrad;

namespace {

// ln(1 + eˣ), as max(x, 0) + ln(1 + e^-|x|): e^-|x| <= 1 never overflows (eˣ does for x > 88 in
// float32), and log1p keeps a tiny e^-|x| that 1 + e^-|x| would round away.
// V is a float or a double, or an xsimd batch of them.
struct Softplus {
  template <class V>
  V operator()(V x) const {
    return xsimd::max(x, V(0)) + xsimd::log1p(xsimd::exp(-xsimd::abs(x)));
  }
};

// g·σ(x) = g / (1 + e⁻ˣ): the incoming gradient g and the saved input x in, g·dy/dx out
struct SoftplusGrad {
  template <class V>
  V operator()(V g, V x) const {
    return g / (V(1) + xsimd::exp(-x));
  }
};

Tensor softplus(const Tensor& x) {
  const Tensor y = map_unary("softplus", x, Softplus{});
  // y = ln(1 + eˣ) ⇒ dy/dx = eˣ/(1 + eˣ) = σ(x), so ∂L/∂x = g·σ(x)
  return record("softplus", y, {x}, [x = saved_input(x)](const Tensor& g) -> Grads {
    return {map_grad("softplus", g, x, SoftplusGrad{})};
  });
}

// softplus of a few float32 values against ln(1 + eˣ) worked out by hand; prints both.
bool values_match() {
  const std::vector<double> x = {-20.0, -1.0, 0.0, 1.0, 100.0};
  // ln(1 + u) = u - u²/2 + ... with u = e⁻²⁰, ln(1 + 1/e), ln 2, ln(1 + e), 100 + ln(1 + e⁻¹⁰⁰)
  const std::vector<double> expected = {2.0611536203143812e-9, 0.31326168751822283,
                                        0.69314718055994531, 1.3132616875182228, 100.0};
  const std::vector<double> y = softplus(from_vector(x, {5})).to_vector();
  bool match = true;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const bool close = std::abs(y[i] - expected[i]) <= 1e-6 * std::abs(expected[i]);
    fmt::print("softplus({:g}) = {:.9g} (by hand {:.9g}){}\n", x[i], y[i], expected[i],
               close ? "" : "  MISMATCH");
    match = match && close;
  }
  return match;
}

}  // namespace

int main() try {
  manual_seed(0);
  const Tensor x = randn({3, 4}, {.dtype = kFloat64});
  // float64 central differences, on x as it is and on a transposed (non-contiguous) view of it;
  // a mismatch throws an Error naming the element
  gradcheck_unary(softplus, x);
  gradcheck_unary(softplus, x.transpose(0, 1));
  fmt::print("gradcheck softplus: ok\n");
  return values_match() ? 0 : 1;
} catch (const std::exception& error) {
  fmt::print(stderr, "custom_op: {}\n", error.what());
  return 1;
}
