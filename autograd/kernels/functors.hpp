// Elementwise functors for the generic loops of map.hpp (and the reductions).
//
// Each call operator is a template over the lane type V: a scalar T (the std:: math, through
// xsimd's scalar re-exports) or an xsimd::batch<T> (the xsimd math); see simd.hpp. NaN tests use
// xsimd::isnan, never x != x: xsimd 8.1's AVX-512 != is an ordered compare, false for NaN. Functors
// with a parameter are templates on its type: Pow{2.0f} is a Pow<float>. Backward helpers take the
// incoming gradient g first, then the saved input x or output y.
#pragma once

#include <numbers>

#include "autograd/kernels/simd.hpp"

namespace tapegrad::kernels {

// ---- Binary ----

// a + b
struct Add {
  template <class V>
  V operator()(V a, V b) const {
    return a + b;
  }
};
// a - b
struct Sub {
  template <class V>
  V operator()(V a, V b) const {
    return a - b;
  }
};
// a * b
struct Mul {
  template <class V>
  V operator()(V a, V b) const {
    return a * b;
  }
};
// a / b
struct Div {
  template <class V>
  V operator()(V a, V b) const {
    return a / b;
  }
};
// max(a, b), NaN if either is NaN (as torch.maximum)
struct Maximum {
  template <class V>
  V operator()(V a, V b) const {
    return select(a < b || xsimd::isnan(b), b, a);
  }
};

// ---- Unary ----

// e^x
struct Exp {
  template <class V>
  V operator()(V x) const {
    return xsimd::exp(x);
  }
};
// ln x
struct Log {
  template <class V>
  V operator()(V x) const {
    return xsimd::log(x);
  }
};
// √x
struct Sqrt {
  template <class V>
  V operator()(V x) const {
    return xsimd::sqrt(x);
  }
};
// |x|
struct Abs {
  template <class V>
  V operator()(V x) const {
    return xsimd::abs(x);
  }
};
// tanh x
struct Tanh {
  template <class V>
  V operator()(V x) const {
    return xsimd::tanh(x);
  }
};
// σ(x) = 1 / (1 + e^-x)
struct Sigmoid {
  template <class V>
  V operator()(V x) const {
    return V(1) / (V(1) + xsimd::exp(-x));
  }
};
// max(x, 0); NaN stays NaN
struct Relu {
  template <class V>
  V operator()(V x) const {
    return select(x < V(0), V(0), x);
  }
};
// x·Φ(x) = 0.5·x·(1 + erf(x/√2))
struct Gelu {
  template <class V>
  V operator()(V x) const {
    return V(0.5) * x * (V(1) + xsimd::erf(x * V(std::numbers::sqrt2 / 2)));
  }
};
// x^exponent, with x^0 = 1 for every x (xsimd's pow gives 0^0 = 0)
template <class T>
struct Pow {
  T exponent;
  template <class V>
  V operator()(V x) const {
    if (exponent == T(0)) return V(1);
    return xsimd::pow(x, V(exponent));
  }
};
// min(max(x, lo), hi); NaN stays NaN
template <class T>
struct Clamp {
  T lo;
  T hi;
  template <class V>
  V operator()(V x) const {
    return select(x < V(lo), V(lo), select(x > V(hi), V(hi), x));
  }
};
// factor·x
template <class T>
struct Scale {
  T factor;
  template <class V>
  V operator()(V x) const {
    return x * V(factor);
  }
};

// ---- Backward helpers: (g, saved) -> g · d(output)/d(input) ----

// g·y, y = e^x
struct ExpGrad {
  template <class V>
  V operator()(V g, V y) const {
    return g * y;
  }
};
// g / x
struct LogGrad {
  template <class V>
  V operator()(V g, V x) const {
    return g / x;
  }
};
// g·0.5 / y, y = √x
struct SqrtGrad {
  template <class V>
  V operator()(V g, V y) const {
    return g * V(0.5) / y;
  }
};
// g·sign(x), 0 at x = 0 (and at NaN)
struct AbsGrad {
  template <class V>
  V operator()(V g, V x) const {
    return select(x > V(0), g, select(x < V(0), -g, V(0)));
  }
};
// g·(1 - y²), y = tanh x
struct TanhGrad {
  template <class V>
  V operator()(V g, V y) const {
    return g * (V(1) - y * y);
  }
};
// g·y·(1 - y), y = σ(x)
struct SigmoidGrad {
  template <class V>
  V operator()(V g, V y) const {
    return g * y * (V(1) - y);
  }
};
// g where x > 0, else 0
struct ReluGrad {
  template <class V>
  V operator()(V g, V x) const {
    return select(x > V(0), g, V(0));
  }
};
// g·(Φ(x) + x·φ(x)), Φ the normal CDF and φ(x) = e^(-x²/2) / √(2π) its density
struct GeluGrad {
  template <class V>
  V operator()(V g, V x) const {
    const V cdf = V(0.5) * (V(1) + xsimd::erf(x * V(std::numbers::sqrt2 / 2)));
    const V density =
        V(std::numbers::inv_sqrtpi / std::numbers::sqrt2) * xsimd::exp(V(-0.5) * x * x);
    return g * (cdf + x * density);
  }
};
// g·p·x^(p-1)
template <class T>
struct PowGrad {
  T exponent;
  template <class V>
  V operator()(V g, V x) const {
    if (exponent == T(0)) return V(0);  // x^0 is constant: 0 · x^-1 would be NaN at x = 0
    return g * V(exponent) * Pow<T>{exponent - T(1)}(x);
  }
};
// g where lo <= x <= hi, else 0
template <class T>
struct ClampGrad {
  T lo;
  T hi;
  template <class V>
  V operator()(V g, V x) const {
    return select(x >= V(lo) && x <= V(hi), g, V(0));
  }
};

}  // namespace tapegrad::kernels
