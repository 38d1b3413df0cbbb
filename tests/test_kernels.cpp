// Kernel tests: every SIMD kernel against its scalar reference, plus hand-computed values.
//
// Quick start, adding a kernel check:
//   - an elementwise functor: add one line to the op list of "unary functors match their scalar
//     path" or "binary functors match their scalar path" (give an input range where it is defined);
//   - a kernel over [outer, n, inner]: loop over kShapes, run the kernel and its _reference on
//     random_values(...) at an unaligned start, and check_close the outputs.
// Sizes cover the empty case, one element, a batch ± 1 (tails) and a long odd row.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <vector>

#include "autograd/kernels/dropout.hpp"
#include "autograd/kernels/functors.hpp"
#include "autograd/kernels/layer_norm.hpp"
#include "autograd/kernels/map.hpp"
#include "autograd/kernels/reduce.hpp"
#include "autograd/kernels/softmax.hpp"
#include "autograd/kernels/strided_copy.hpp"

namespace k = tapegrad::kernels;

namespace {

constexpr int64_t kSizes[] = {0, 1, 15, 16, 17, 1023};

struct Shape {
  int64_t outer, n, inner;
  int64_t size() const { return outer * n * inner; }
  int64_t reduced_size() const { return outer * inner; }
};
constexpr Shape kShapes[] = {{1, 0, 1},   {2, 1, 1},     {3, 15, 1}, {2, 16, 1},
                             {2, 17, 1},  {1, 1023, 1},  {2, 17, 3}, {3, 15, 17},
                             {2, 16, 16}, {1, 1023, 17}, {2, 5, 33}};

template <class T>
constexpr T kInf = std::numeric_limits<T>::infinity();
template <class T>
constexpr T kNaN = std::numeric_limits<T>::quiet_NaN();

// Tolerance of one elementwise result, xsimd's math against std::'s: a few ulps relative, and
// absolute for results that cancel (1 + erf(x) for x < -3, 1 - y² near |y| = 1).
template <class T>
constexpr T kRtol = sizeof(T) == 4 ? T(2e-5) : T(1e-12);
template <class T>
constexpr T kAtol = sizeof(T) == 4 ? T(1e-6) : T(1e-14);

// A buffer whose data() starts one element past an allocation's start: every test runs unaligned.
template <class T>
class Unaligned {
 public:
  explicit Unaligned(int64_t n, T fill = T(0)) : storage_(static_cast<size_t>(n) + 1, fill) {}
  T* data() { return storage_.data() + 1; }
  const T* data() const { return storage_.data() + 1; }
  T& operator[](int64_t i) { return data()[i]; }
  std::span<const T> view() const { return {data(), storage_.size() - 1}; }

 private:
  std::vector<T> storage_;
};

template <class T>
Unaligned<T> random_values(int64_t n, T lo, T hi, uint32_t seed = 42) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<T> distribution(lo, hi);
  Unaligned<T> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = distribution(generator);
  return values;
}

// |actual - expected| <= atol + rtol·|expected| elementwise; equal infinities and NaNs match.
template <class T>
void check_close(std::span<const T> actual, std::span<const T> expected, T rtol, T atol) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    const T a = actual[i], e = expected[i];
    if (std::isnan(e) || std::isinf(e)) {
      CHECK_MESSAGE((std::isnan(e) ? std::isnan(a) : a == e), "at ", i, ": ", a, " vs ", e);
      continue;
    }
    CHECK_MESSAGE(std::abs(a - e) <= atol + rtol * std::abs(e), "at ", i, ": ", a, " vs ", e);
  }
}

template <class T>
void check_close(const Unaligned<T>& actual, const Unaligned<T>& expected, T rtol, T atol) {
  check_close(actual.view(), expected.view(), rtol, atol);
}

template <class T, class Op>
void check_unary(Op op, T lo, T hi) {
  for (const int64_t n : kSizes) {
    CAPTURE(n);
    const Unaligned<T> x = random_values<T>(n, lo, hi);
    Unaligned<T> simd(n), reference(n);
    k::unary(x.data(), simd.data(), n, op);
    k::unary_reference(x.data(), reference.data(), n, op);
    check_close(simd, reference, kRtol<T>, kAtol<T>);
  }
}

template <class T, class Op>
void check_binary(Op op, T lo, T hi) {
  for (const int64_t n : kSizes) {
    for (const int64_t a_step : {0, 1}) {
      for (const int64_t b_step : {0, 1}) {
        CAPTURE(n);
        CAPTURE(a_step);
        CAPTURE(b_step);
        const Unaligned<T> a = random_values<T>(n, lo, hi, 1);
        const Unaligned<T> b = random_values<T>(n, lo, hi, 2);
        Unaligned<T> simd(n), reference(n);
        k::binary(a.data(), a_step, b.data(), b_step, simd.data(), n, op);
        k::binary_reference(a.data(), a_step, b.data(), b_step, reference.data(), n, op);
        check_close(simd, reference, kRtol<T>, kAtol<T>);
      }
    }
  }
}

// Tolerance of a sum of terms against another summation order: ~n ulps of Σ|term| at worst.
template <class T>
T sum_tolerance(std::span<const T> terms) {
  T magnitude = 0;
  for (const T t : terms) magnitude += std::abs(t);
  return magnitude * static_cast<T>(terms.size() + 4) * std::numeric_limits<T>::epsilon();
}

// (rows, n) of the layer norm checks: every size of kSizes but 0 (a row of nothing has no mean)
// in 3 rows, and 130 rows of 17.
std::vector<std::pair<int64_t, int64_t>> layer_norm_shapes() {
  std::vector<std::pair<int64_t, int64_t>> shapes;
  for (const int64_t n : kSizes)
    if (n > 0) shapes.emplace_back(3, n);
  shapes.emplace_back(130, 17);
  return shapes;
}

}  // namespace

TEST_CASE_TEMPLATE("kernels: unary functors match their scalar path", T, float, double) {
  check_unary<T>(k::Exp{}, -20, 20);
  check_unary<T>(k::Log{}, T(1e-3), 100);
  check_unary<T>(k::Sqrt{}, 0, 100);
  check_unary<T>(k::Abs{}, -5, 5);
  check_unary<T>(k::Tanh{}, -6, 6);
  check_unary<T>(k::Sigmoid{}, -20, 20);
  check_unary<T>(k::Relu{}, -5, 5);
  check_unary<T>(k::Gelu{}, -6, 6);
  check_unary<T>(k::Pow<T>{T(2.5)}, T(1e-3), 10);
  check_unary<T>(k::Pow<T>{3}, -4, 4);
  check_unary<T>(k::Clamp<T>{-1, 2}, -5, 5);
  check_unary<T>(k::Scale<T>{T(-1.5)}, -5, 5);
}

TEST_CASE_TEMPLATE("kernels: binary functors match their scalar path for every step pair", T, float,
                   double) {
  check_binary<T>(k::Add{}, -5, 5);
  check_binary<T>(k::Sub{}, -5, 5);
  check_binary<T>(k::Mul{}, -5, 5);
  check_binary<T>(k::Div{}, T(0.5), 5);
  check_binary<T>(k::Maximum{}, -5, 5);
  check_binary<T>(k::ExpGrad{}, -5, 5);
  check_binary<T>(k::LogGrad{}, T(0.5), 5);
  check_binary<T>(k::SqrtGrad{}, T(0.5), 5);
  check_binary<T>(k::AbsGrad{}, -5, 5);
  check_binary<T>(k::TanhGrad{}, -1, 1);
  check_binary<T>(k::SigmoidGrad{}, 0, 1);
  check_binary<T>(k::ReluGrad{}, -5, 5);
  check_binary<T>(k::GeluGrad{}, -6, 6);
  check_binary<T>(k::PowGrad<T>{T(2.5)}, T(1e-3), 10);
  check_binary<T>(k::ClampGrad<T>{-1, 2}, -5, 5);
}

TEST_CASE_TEMPLATE("kernels: functors give the hand-computed values on both paths", T, float,
                   double) {
  // Each row: the functor's scalar result, then its batch result in lane 0.
  const auto both = [](auto op, auto... args) {
    const T scalar = op(static_cast<T>(args)...);
    const T batch = op(k::Batch<T>(static_cast<T>(args))...).get(0);
    return std::pair{scalar, batch};
  };
  const auto check_value = [](std::pair<T, T> values, double expected) {
    CHECK(values.first == doctest::Approx(expected).epsilon(1e-6));
    CHECK(values.second == doctest::Approx(expected).epsilon(1e-6));
  };
  check_value(both(k::Gelu{}, 1.0), 0.8413447460685429);
  check_value(both(k::GeluGrad{}, 1.0, 1.0), 0.8413447460685429 + 0.24197072451914337);
  check_value(both(k::Sigmoid{}, 0.0), 0.5);
  check_value(both(k::Pow<T>{0}, 0.0), 1.0);
  check_value(both(k::PowGrad<T>{1}, 2.0, 0.0), 2.0);
  check_value(both(k::AbsGrad{}, 3.0, 0.0), 0.0);
  check_value(both(k::AbsGrad{}, 3.0, -2.0), -3.0);
  check_value(both(k::ClampGrad<T>{-1, 1}, 3.0, 1.0), 3.0);
  check_value(both(k::ClampGrad<T>{-1, 1}, 3.0, 1.5), 0.0);
  check_value(both(k::ReluGrad{}, 3.0, 0.0), 0.0);
}

TEST_CASE_TEMPLATE("kernels: maximum, relu and clamp propagate NaN", T, float, double) {
  const T nan = kNaN<T>;
  for (const auto& [a, b] : {std::pair{nan, T(1)}, std::pair{T(1), nan}}) {
    CHECK(std::isnan(k::Maximum{}(a, b)));
    CHECK(std::isnan(k::Maximum{}(k::Batch<T>(a), k::Batch<T>(b)).get(0)));
  }
  CHECK(std::isnan(k::Relu{}(nan)));
  CHECK(std::isnan(k::Relu{}(k::Batch<T>(nan)).get(0)));
  CHECK(std::isnan(k::Clamp<T>{0, 1}(k::Batch<T>(nan)).get(0)));
}

// k::sum of random values over [outer, n, inner] against k::sum_reference.
template <class T>
void check_sum(const Shape& s) {
  CAPTURE(s.outer);
  CAPTURE(s.n);
  CAPTURE(s.inner);
  const Unaligned<T> x = random_values<T>(s.size(), -1, 1);
  Unaligned<T> simd(s.reduced_size()), reference(s.reduced_size());
  k::sum(x.data(), s.outer, s.n, s.inner, simd.data());
  k::sum_reference(x.data(), s.outer, s.n, s.inner, reference.data());
  check_close(simd, reference, T(0), sum_tolerance(x.view()));
}

TEST_CASE_TEMPLATE("kernels: sum over [outer, n, inner] matches the reference", T, float, double) {
  for (const Shape& s : kShapes) check_sum<T>(s);
}

TEST_CASE_TEMPLATE("kernels: column sums over many rows and wide rows match the reference", T,
                   float, double) {
  // Several leaves of the summation tree (n > 256), several chunks of columns (inner > 1024),
  // and both at once (each item is one leaf of one chunk).
  for (const Shape& s :
       {Shape{1, 1000, 40}, Shape{2, 600, 17}, Shape{2, 40, 3000}, Shape{2, 300, 1100}}) {
    check_sum<T>(s);
  }
}

TEST_CASE_TEMPLATE("kernels: sum_all and dot match the reference", T, float, double) {
  for (const int64_t n : kSizes) {
    CAPTURE(n);
    const Unaligned<T> a = random_values<T>(n, -1, 1, 1);
    const Unaligned<T> b = random_values<T>(n, -1, 1, 2);
    CHECK(std::abs(k::sum_all(a.data(), n) - k::sum_all_reference(a.data(), n)) <=
          sum_tolerance(a.view()));
    CHECK(std::abs(k::dot(a.data(), b.data(), n) - k::dot_reference(a.data(), b.data(), n)) <=
          sum_tolerance(a.view()));
  }
}

TEST_CASE("kernels: a float sum of a million values is accurate to 1e-5") {
  const int64_t n = 1'000'000;
  const Unaligned<float> x = random_values<float>(n, 0, 1);
  double exact = 0;
  for (int64_t i = 0; i < n; ++i) exact += x.data()[i];
  CHECK(std::abs(k::sum_all(x.data(), n) - exact) / exact < 1e-5);
  float row_sum = 0;
  k::sum(x.data(), 1, n, 1, &row_sum);
  CHECK(std::abs(row_sum - exact) / exact < 1e-5);
  Unaligned<float> column_sums(4);
  k::sum(x.data(), 1, n / 4, 4, column_sums.data());
  const double columns_total =
      double{column_sums[0]} + column_sums[1] + column_sums[2] + column_sums[3];
  CHECK(std::abs(columns_total - exact) / exact < 1e-5);
}

TEST_CASE_TEMPLATE("kernels: max over [outer, n, inner] matches the reference with ties and NaN", T,
                   float, double) {
  for (const Shape& s : kShapes) {
    if (s.n == 0) continue;  // max of nothing is undefined
    for (const bool with_nan : {false, true}) {
      CAPTURE(s.outer);
      CAPTURE(s.n);
      CAPTURE(s.inner);
      CAPTURE(with_nan);
      // Few distinct values, so that the max is tied and the first index matters.
      Unaligned<T> x = random_values<T>(s.size(), 0, 4);
      for (int64_t i = 0; i < s.size(); ++i) x[i] = std::floor(x[i]);
      if (with_nan) {
        for (int64_t i = s.size() / 3; i < s.size(); i += 7) x[i] = kNaN<T>;
      }
      Unaligned<T> simd(s.reduced_size()), reference(s.reduced_size());
      std::vector<int64_t> simd_index(s.reduced_size()), reference_index(s.reduced_size());
      k::max(x.data(), s.outer, s.n, s.inner, simd.data(), simd_index.data());
      k::max_reference(x.data(), s.outer, s.n, s.inner, reference.data(), reference_index.data());
      check_close(simd, reference, T(0), T(0));
      CHECK(simd_index == reference_index);
    }
  }
}

TEST_CASE_TEMPLATE("kernels: max of a row holding a NaN is that NaN at its first index", T, float,
                   double) {
  Unaligned<T> x = random_values<T>(40, -1, 1);
  x[21] = kNaN<T>;
  x[30] = kNaN<T>;
  x[5] = 7;
  T value = 0;
  int64_t index = -1;
  k::max(x.data(), 1, 40, 1, &value, &index);
  CHECK(std::isnan(value));
  CHECK(index == 21);
}

TEST_CASE_TEMPLATE("kernels: variance over [outer, n, inner] matches the reference", T, float,
                   double) {
  for (const Shape& s : kShapes) {
    if (s.n < 2) continue;  // the unbiased divisor n - 1 needs two values
    for (const int64_t correction : {0, 1}) {
      CAPTURE(s.outer);
      CAPTURE(s.n);
      CAPTURE(s.inner);
      CAPTURE(correction);
      const Unaligned<T> x = random_values<T>(s.size(), -2, 3);
      Unaligned<T> mean(s.reduced_size()), var(s.reduced_size());
      Unaligned<T> reference_mean(s.reduced_size()), reference_var(s.reduced_size());
      k::variance(x.data(), s.outer, s.n, s.inner, correction, mean.data(), var.data());
      k::variance_reference(x.data(), s.outer, s.n, s.inner, correction, reference_mean.data(),
                            reference_var.data());
      const T tolerance = T(64) * std::numeric_limits<T>::epsilon();
      check_close(mean, reference_mean, tolerance, tolerance);
      check_close(var, reference_var, tolerance, tolerance);
    }
  }
}

TEST_CASE("kernels: float variance of 1e4 plus small noise is accurate (two passes)") {
  // E[x²] - E[x]² in float loses everything here: x² ≈ 1e8 has an ulp of 8, the variance is 1/12.
  const int64_t n = 100'000;
  Unaligned<float> x = random_values<float>(n, -0.5f, 0.5f);
  for (int64_t i = 0; i < n; ++i) x[i] += 1e4f;
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) mean += x[i];
  mean /= n;
  double exact = 0;
  for (int64_t i = 0; i < n; ++i) exact += (x[i] - mean) * (x[i] - mean);
  exact /= n;
  float kernel_mean = 0, kernel_var = 0;
  k::variance(x.data(), 1, n, 1, 0, &kernel_mean, &kernel_var);
  CHECK(std::abs(kernel_var - exact) / exact < 1e-4);
  CHECK(kernel_mean == doctest::Approx(mean).epsilon(1e-6));
}

TEST_CASE_TEMPLATE("kernels: softmax and log-softmax match the reference, forward and backward", T,
                   float, double) {
  // Lines a thousand apart too (line l's values + 1000·(l mod 3)): each must be shifted by its
  // own max; another line's would overflow its exps or underflow them all to 0.
  for (const bool apart : {false, true}) {
    for (const Shape& s : kShapes) {
      CAPTURE(s.outer);
      CAPTURE(s.n);
      CAPTURE(s.inner);
      CAPTURE(apart);
      Unaligned<T> x = random_values<T>(s.size(), -8, 8, 1);
      if (apart)
        for (int64_t i = 0; i < s.size(); ++i)
          x[i] += T(1000) * T((i / (s.n * s.inner) * s.inner + i % s.inner) % 3);
      const Unaligned<T> g = random_values<T>(s.size(), -1, 1, 2);
      Unaligned<T> simd(s.size()), reference(s.size());
      Unaligned<T> simd_dx(s.size()), reference_dx(s.size());
      const T atol = 16 * std::numeric_limits<T>::epsilon();

      k::softmax(x.data(), s.outer, s.n, s.inner, simd.data());
      k::softmax_reference(x.data(), s.outer, s.n, s.inner, reference.data());
      check_close(simd, reference, kRtol<T>, T(0));
      k::softmax_backward(reference.data(), g.data(), s.outer, s.n, s.inner, simd_dx.data());
      k::softmax_backward_reference(reference.data(), g.data(), s.outer, s.n, s.inner,
                                    reference_dx.data());
      check_close(simd_dx, reference_dx, kRtol<T>, atol);

      k::log_softmax(x.data(), s.outer, s.n, s.inner, simd.data());
      k::log_softmax_reference(x.data(), s.outer, s.n, s.inner, reference.data());
      check_close(simd, reference, kRtol<T>, atol);
      k::log_softmax_backward(reference.data(), g.data(), s.outer, s.n, s.inner, simd_dx.data());
      k::log_softmax_backward_reference(reference.data(), g.data(), s.outer, s.n, s.inner,
                                        reference_dx.data());
      check_close(simd_dx, reference_dx, kRtol<T>, T(64) * atol);
    }
  }
}

TEST_CASE_TEMPLATE("kernels: softmax of [0.5, 1.0, 0.2] is [0.2950, 0.4864, 0.2186]", T, float,
                   double) {
  const T x[] = {0.5, 1.0, 0.2};
  T y[3];
  k::softmax(x, 1, 3, 1, y);
  CHECK(std::abs(y[0] - T(0.2950)) < T(5e-5));
  CHECK(std::abs(y[1] - T(0.4864)) < T(5e-5));
  CHECK(std::abs(y[2] - T(0.2186)) < T(5e-5));
  k::log_softmax(x, 1, 3, 1, y);
  CHECK(y[1] == doctest::Approx(std::log(0.48640)).epsilon(2e-4));
}

TEST_CASE_TEMPLATE("kernels: softmax of an all -inf row is zero, and so are both backward passes",
                   T, float, double) {
  // Rows of 3 and 40 (tail only, batches and tail); columns of inner 3 and 20 (scalar and SIMD).
  for (const Shape& s : {Shape{1, 3, 1}, Shape{2, 40, 1}, Shape{2, 5, 3}, Shape{1, 7, 20}}) {
    CAPTURE(s.n);
    CAPTURE(s.inner);
    const Unaligned<T> x(s.size(), -kInf<T>);
    const Unaligned<T> g = random_values<T>(s.size(), -1, 1);
    Unaligned<T> y(s.size(), kNaN<T>), dx(s.size(), kNaN<T>);
    k::softmax(x.data(), s.outer, s.n, s.inner, y.data());
    check_close(y, Unaligned<T>(s.size(), 0), T(0), T(0));
    k::softmax_backward(y.data(), g.data(), s.outer, s.n, s.inner, dx.data());
    check_close(dx, Unaligned<T>(s.size(), 0), T(0), T(0));
    k::log_softmax(x.data(), s.outer, s.n, s.inner, y.data());
    check_close(y, Unaligned<T>(s.size(), -kInf<T>), T(0), T(0));
    k::log_softmax_backward(y.data(), g.data(), s.outer, s.n, s.inner, dx.data());
    check_close(dx, Unaligned<T>(s.size(), 0), T(0), T(0));
  }
}

TEST_CASE_TEMPLATE("kernels: softmax gives masked (-inf) entries of a live row zero probability", T,
                   float, double) {
  const T x[] = {1, -kInf<T>, 1, -kInf<T>};
  T y[4];
  k::softmax(x, 1, 4, 1, y);
  CHECK(y[0] == doctest::Approx(0.5));
  CHECK(y[1] == 0);
  CHECK(y[2] == doctest::Approx(0.5));
  CHECK(y[3] == 0);
}

TEST_CASE("kernels: softmax backward passes agree with finite differences") {
  const int64_t n = 7;
  const Unaligned<double> x = random_values<double>(n, -2, 2, 1);
  const Unaligned<double> g = random_values<double>(n, -1, 1, 2);
  for (const bool log_form : {false, true}) {
    CAPTURE(log_form);
    const auto forward = [&](const double* in, double* out) {
      log_form ? k::log_softmax(in, 1, n, 1, out) : k::softmax(in, 1, n, 1, out);
    };
    // L(x) = Σ g·f(x), so dL/dx is the backward pass of g.
    const auto loss = [&](const Unaligned<double>& in) {
      Unaligned<double> out(n);
      forward(in.data(), out.data());
      return k::dot_reference(g.data(), out.data(), n);
    };
    Unaligned<double> y(n), dx(n);
    forward(x.data(), y.data());
    log_form ? k::log_softmax_backward(y.data(), g.data(), 1, n, 1, dx.data())
             : k::softmax_backward(y.data(), g.data(), 1, n, 1, dx.data());
    for (int64_t i = 0; i < n; ++i) {
      Unaligned<double> plus = x, minus = x;
      plus[i] += 1e-6;
      minus[i] -= 1e-6;
      CHECK(dx[i] == doctest::Approx((loss(plus) - loss(minus)) / 2e-6).epsilon(1e-6));
    }
  }
}

TEST_CASE_TEMPLATE("kernels: layer norm matches the reference, with and without gamma and beta", T,
                   float, double) {
  // 130 rows: three blocks of the backward's parameter sums, the last one short.
  for (const auto& [rows, n] : layer_norm_shapes()) {
    for (const bool affine : {false, true}) {
      CAPTURE(rows);
      CAPTURE(n);
      CAPTURE(affine);
      const Unaligned<T> x = random_values<T>(rows * n, -3, 5, 1);
      const Unaligned<T> g = random_values<T>(rows * n, -1, 1, 2);
      const Unaligned<T> gamma = random_values<T>(n, T(0.5), T(1.5), 3);
      const Unaligned<T> beta = random_values<T>(n, -1, 1, 4);
      const T* gamma_or_null = affine ? gamma.data() : nullptr;
      const T* beta_or_null = affine ? beta.data() : nullptr;
      const T eps = T(1e-5);
      const T tolerance = T(256) * std::numeric_limits<T>::epsilon();

      Unaligned<T> y(rows * n), mean(rows), rstd(rows);
      Unaligned<T> reference_y(rows * n), reference_mean(rows), reference_rstd(rows);
      k::layer_norm(x.data(), gamma_or_null, beta_or_null, rows, n, eps, y.data(), mean.data(),
                    rstd.data());
      k::layer_norm_reference(x.data(), gamma_or_null, beta_or_null, rows, n, eps,
                              reference_y.data(), reference_mean.data(), reference_rstd.data());
      check_close(y, reference_y, tolerance, tolerance);
      check_close(mean, reference_mean, tolerance, tolerance);
      check_close(rstd, reference_rstd, tolerance, tolerance);
      // Without a backward to read them, mean and rstd are not asked for: y is the same.
      Unaligned<T> y_alone(rows * n);
      k::layer_norm(x.data(), gamma_or_null, beta_or_null, rows, n, eps, y_alone.data(),
                    static_cast<T*>(nullptr), static_cast<T*>(nullptr));
      check_close(y_alone, y, T(0), T(0));

      // dgamma and dbeta start non-zero: the kernels accumulate into them.
      Unaligned<T> dx(rows * n), dgamma(n, 1), dbeta(n, 2);
      Unaligned<T> reference_dx(rows * n), reference_dgamma(n, 1), reference_dbeta(n, 2);
      k::layer_norm_backward(x.data(), g.data(), gamma_or_null, mean.data(), rstd.data(), rows, n,
                             dx.data(), affine ? dgamma.data() : nullptr,
                             affine ? dbeta.data() : nullptr);
      k::layer_norm_backward_reference(
          x.data(), g.data(), gamma_or_null, mean.data(), rstd.data(), rows, n, reference_dx.data(),
          affine ? reference_dgamma.data() : nullptr, affine ? reference_dbeta.data() : nullptr);
      check_close(dx, reference_dx, tolerance, tolerance);
      check_close(dgamma, reference_dgamma, tolerance, tolerance);
      check_close(dbeta, reference_dbeta, tolerance, tolerance);
    }
  }
}

TEST_CASE_TEMPLATE("kernels: layer norm of a constant row is zero with a finite gradient", T, float,
                   double) {
  const int64_t n = 37;
  const Unaligned<T> x(n, T(3.25));
  const Unaligned<T> g = random_values<T>(n, -1, 1);
  Unaligned<T> y(n, kNaN<T>), dx(n, kNaN<T>), dgamma(n), dbeta(n);
  const Unaligned<T> gamma = random_values<T>(n, T(0.5), T(1.5), 3);
  T mean = 0, rstd = 0;
  k::layer_norm(x.data(), gamma.data(), static_cast<const T*>(nullptr), 1, n, T(1e-5), y.data(),
                &mean, &rstd);
  check_close(y, Unaligned<T>(n, 0), T(0), T(0));
  CHECK(std::isfinite(rstd));
  k::layer_norm_backward(x.data(), g.data(), gamma.data(), &mean, &rstd, 1, n, dx.data(),
                         dgamma.data(), dbeta.data());
  for (int64_t i = 0; i < n; ++i) {
    CHECK(std::isfinite(dx[i]));
    CHECK(dgamma[i] == 0);
  }
}

TEST_CASE("kernels: layer norm backward agrees with finite differences") {
  const int64_t n = 9;
  const Unaligned<double> x = random_values<double>(n, -2, 2, 1);
  const Unaligned<double> g = random_values<double>(n, -1, 1, 2);
  const Unaligned<double> gamma = random_values<double>(n, 0.5, 1.5, 3);
  const Unaligned<double> beta = random_values<double>(n, -1, 1, 4);
  // L = Σ g·y, as a function of x, gamma or beta.
  const auto loss = [&](const Unaligned<double>& in, const Unaligned<double>& scale,
                        const Unaligned<double>& shift) {
    Unaligned<double> y(n);
    double mean = 0, rstd = 0;
    k::layer_norm(in.data(), scale.data(), shift.data(), 1, n, 1e-5, y.data(), &mean, &rstd);
    return k::dot_reference(g.data(), y.data(), n);
  };
  Unaligned<double> y(n), dx(n), dgamma(n), dbeta(n);
  double mean = 0, rstd = 0;
  k::layer_norm(x.data(), gamma.data(), beta.data(), 1, n, 1e-5, y.data(), &mean, &rstd);
  k::layer_norm_backward(x.data(), g.data(), gamma.data(), &mean, &rstd, 1, n, dx.data(),
                         dgamma.data(), dbeta.data());
  const double h = 1e-6;
  const auto nudged = [h](Unaligned<double> v, int64_t i, double sign) {
    v[i] += sign * h;
    return v;
  };
  for (int64_t i = 0; i < n; ++i) {
    CAPTURE(i);
    const double dx_numeric =
        (loss(nudged(x, i, 1), gamma, beta) - loss(nudged(x, i, -1), gamma, beta)) / (2 * h);
    const double dgamma_numeric =
        (loss(x, nudged(gamma, i, 1), beta) - loss(x, nudged(gamma, i, -1), beta)) / (2 * h);
    const double dbeta_numeric =
        (loss(x, gamma, nudged(beta, i, 1)) - loss(x, gamma, nudged(beta, i, -1))) / (2 * h);
    CHECK(dx[i] == doctest::Approx(dx_numeric).epsilon(1e-6));
    CHECK(dgamma[i] == doctest::Approx(dgamma_numeric).epsilon(1e-6));
    CHECK(dbeta[i] == doctest::Approx(dbeta_numeric).epsilon(1e-6));
  }
}

// ---- dropout ----

TEST_CASE_TEMPLATE("kernels: dropout matches its reference bit for bit", T, float, double) {
  for (const int64_t n : {int64_t{0}, int64_t{1}, int64_t{15}, int64_t{16}, int64_t{17},
                          int64_t{1023}, int64_t{100'003}}) {
    for (const double p : {0.1, 0.5, 0.9}) {
      CAPTURE(n);
      CAPTURE(p);
      const Unaligned<T> x = random_values<T>(n, -2, 2);
      const k::DropoutMask mask = k::dropout_mask(0x1234'5678'9abc'def0, p);
      const T scale = static_cast<T>(1 / (1 - p));
      Unaligned<T> simd(n), reference(n);
      k::dropout(x.data(), simd.data(), n, mask, scale);
      k::dropout_reference(x.data(), reference.data(), n, mask, scale);
      check_close(simd, reference, T(0), T(0));
    }
  }
}

TEST_CASE("kernels: dropout's float and double masks are the same") {
  const int64_t n = 1000;
  const k::DropoutMask mask = k::dropout_mask(99, 0.5);
  const Unaligned<float> ones_float(n, 1.0f);
  const Unaligned<double> ones_double(n, 1.0);
  Unaligned<float> kept_float(n);
  Unaligned<double> kept_double(n);
  k::dropout(ones_float.data(), kept_float.data(), n, mask, 1.0f);
  k::dropout(ones_double.data(), kept_double.data(), n, mask, 1.0);
  for (int64_t i = 0; i < n; ++i) CHECK(double{kept_float[i]} == kept_double[i]);
}

TEST_CASE("kernels: dropout keeps 1-p of a million elements, independently of place and seed") {
  const int64_t n = 1 << 20;
  const double p = 0.3;
  const Unaligned<float> ones(n, 1.0f);
  Unaligned<float> first(n), second(n);
  k::dropout(ones.data(), first.data(), n, k::dropout_mask(1, p), 1.0f);
  k::dropout(ones.data(), second.data(), n, k::dropout_mask(2, p), 1.0f);
  int64_t kept = 0, both_neighbours = 0, both_seeds = 0;
  std::vector<int64_t> kept_by_lane(16, 0);  // by position within a 16-float batch
  for (int64_t i = 0; i < n; ++i) {
    const bool is_kept = first[i] != 0;
    kept += is_kept;
    kept_by_lane[i % 16] += is_kept;
    both_neighbours += i + 1 < n && is_kept && first[i + 1] != 0;
    both_seeds += is_kept && second[i] != 0;
  }
  // Binomial counts: within 5 standard deviations of their means.
  const auto near = [](int64_t count, int64_t trials, double probability) {
    const double mean = static_cast<double>(trials) * probability;
    return std::abs(static_cast<double>(count) - mean) <= 5 * std::sqrt(mean * (1 - probability));
  };
  CHECK(near(kept, n, 1 - p));
  CHECK(near(both_neighbours, n - 1, (1 - p) * (1 - p)));
  CHECK(near(both_seeds, n, (1 - p) * (1 - p)));
  for (const int64_t lane_count : kept_by_lane) CHECK(near(lane_count, n / 16, 1 - p));
}

TEST_CASE("kernels: dropout writes exact zeros where it drops, whatever the input") {
  const int64_t n = 64;
  Unaligned<float> x(n, std::numeric_limits<float>::quiet_NaN());
  for (int64_t i = 0; i < n; i += 2) x[i] = std::numeric_limits<float>::infinity();
  Unaligned<float> out(n);
  const k::DropoutMask mask = k::dropout_mask(5, 0.5);
  k::dropout(x.data(), out.data(), n, mask, 2.0f);
  Unaligned<float> ones(n, 1.0f), kept(n);
  k::dropout(ones.data(), kept.data(), n, mask, 1.0f);
  for (int64_t i = 0; i < n; ++i) {
    CAPTURE(i);
    if (kept[i] == 0) {
      CHECK(out[i] == 0);
      CHECK_FALSE(std::signbit(out[i]));
    } else {
      CHECK(!std::isfinite(out[i]));
    }
  }
}

TEST_CASE("kernels: dropout_mask's threshold is p·2^32, rounded") {
  CHECK(k::dropout_mask(0, 0.5).threshold == 0x8000'0000u);
  CHECK(k::dropout_mask(0, 0.25).threshold == 0x4000'0000u);
  CHECK(k::dropout_mask(0, 1e-12).threshold == 0u);
  CHECK(k::dropout_mask(0, 1 - 1e-12).threshold == 0xFFFF'FFFFu);
}

// ---- strided copy ----

namespace {

// A view of `shape` into a buffer of `buffer_size` random values at `offset` with `strides`.
struct View {
  std::vector<int64_t> shape, strides;
  int64_t offset, buffer_size;
};

const View kViews[] = {
    {{}, {}, 3, 5},                                  // one element
    {{4, 0, 3}, {0, 3, 1}, 0, 1},                    // no elements
    {{37}, {1}, 1, 40},                              // contiguous
    {{17, 33}, {1, 17}, 0, 17 * 33},                 // transposed
    {{3, 7, 5, 9}, {315, 9, 63, 1}, 0, 945},         // dims 1 and 2 swapped
    {{2, 3, 5, 19}, {285, 5, 1, 15}, 0, 570},        // [B, T, H, D] read as [B, H, D, T]
    {{2, 3, 5, 19}, {285, 5, 1, 15}, 7, 577},        // the same, from an offset
    {{6, 21}, {50, 2}, 4, 300},                      // every other column of a slice
    {{4, 37}, {1, 0}, 0, 4},                         // a column expanded
    {{5, 37}, {0, 1}, 0, 37},                        // a row expanded
    {{3, 1, 40, 2}, {100, 7, 2, 1}, 0, 300},         // a size-1 dim, inner pairs
    {{64, 48, 40}, {1920, 1, 48}, 0, 64 * 48 * 40},  // large transposed, shared among threads
};

}  // namespace

TEST_CASE_TEMPLATE("kernels: strided_copy matches the reference on every layout", T, float,
                   double) {
  for (const View& view : kViews) {
    CAPTURE(view.shape.size());
    CAPTURE(view.offset);
    const Unaligned<T> source = random_values<T>(view.buffer_size, -1, 1);
    int64_t count = 1;
    for (const int64_t size : view.shape) count *= size;
    Unaligned<T> copy(count, kNaN<T>), reference(count, kNaN<T>);
    k::strided_copy(source.data() + view.offset, view.shape, view.strides, copy.data());
    k::strided_copy_reference(source.data() + view.offset, view.shape, view.strides,
                              reference.data());
    check_close(copy, reference, T(0), T(0));
  }
}

TEST_CASE("kernels: strided_copy converts types") {
  const Unaligned<double> source = random_values<double>(17 * 33, -1, 1);
  Unaligned<float> copy(17 * 33), reference(17 * 33);
  k::strided_copy(source.data(), {17, 33}, {1, 17}, copy.data());
  k::strided_copy_reference(source.data(), {17, 33}, {1, 17}, reference.data());
  check_close(copy, reference, 0.0f, 0.0f);
}
