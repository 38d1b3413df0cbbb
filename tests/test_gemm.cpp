// gemm and gemm_batched against the triple-loop gemm_reference.
#include "autograd/kernels/gemm.hpp"

#include "autograd/error.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

using tapegrad::kernels::Epilogue;
using tapegrad::kernels::gemm;
using tapegrad::kernels::gemm_batched;
using tapegrad::kernels::gemm_reference;
using tapegrad::kernels::Transpose;

namespace {

struct Problem {
  int64_t M, N, K;
  Transpose trans_a = Transpose::No;
  Transpose trans_b = Transpose::No;
  double alpha = 1;
  double beta = 0;
  int64_t padding = 0;    // extra elements at the end of every row of A, B and C
  int64_t offset = 0;     // elements before the first one of each matrix (misaligns them)
  bool bias = false;      // the epilogue adds a bias to every row
  bool relu = false;      // and clamps at 0
  bool residual = false;  // the epilogue adds a matrix laid out as C
};

// A stored matrix (rows x width, leading dimension ld), `offset` elements into its storage.
template <class T>
struct Stored {
  int64_t rows, width, ld, offset;
  std::vector<T> storage;

  Stored(int64_t rows_, int64_t width_, int64_t padding, int64_t offset_, std::mt19937& rng)
      : rows(rows_),
        width(width_),
        ld(width_ + padding),
        offset(offset_),
        storage(offset_ + rows_ * ld + 1) {
    // Uniform in [-1, 1]: a 32-bit draw read as a signed fraction, one call an element (the
    // tests fill millions, and uniform_real_distribution is several calls unoptimised).
    for (T& x : storage) x = static_cast<T>(static_cast<int32_t>(rng())) * static_cast<T>(0x1p-31);
  }
  T* data() { return storage.data() + offset; }
  const T* data() const { return storage.data() + offset; }
};

template <class T>
Stored<T> operand(int64_t rows, int64_t cols, Transpose trans, const Problem& p,
                  std::mt19937& rng) {
  return trans == Transpose::Yes ? Stored<T>(cols, rows, p.padding, p.offset, rng)
                                 : Stored<T>(rows, cols, p.padding, p.offset, rng);
}

template <class T>
std::vector<T> absolute(const std::vector<T>& values) {
  std::vector<T> result(values.size());
  for (size_t i = 0; i < values.size(); ++i) result[i] = std::abs(values[i]);
  return result;
}

bool equal_or_both_nan(double x, double y) { return x == y || (std::isnan(x) && std::isnan(y)); }

// Runs gemm and gemm_reference (followed by the epilogue's bias, residual and relu) on the same
// inputs and checks that every element of C is within twice the rounding error bound of a K-term
// dot product, (K + 4) eps (sum_k |alpha a_ik b_kj| + |beta c_ij| + |bias_j| + |residual_ij|), of
// the reference, and that the padding of C is untouched.
template <class T>
void check_against_reference(const Problem& p) {
  CAPTURE(p.M);
  CAPTURE(p.N);
  CAPTURE(p.K);
  CAPTURE(p.trans_a);
  CAPTURE(p.trans_b);
  CAPTURE(p.alpha);
  CAPTURE(p.beta);
  CAPTURE(p.padding);
  CAPTURE(p.offset);
  CAPTURE(p.bias);
  CAPTURE(p.relu);
  CAPTURE(p.residual);
  std::mt19937 rng(1);
  const Stored<T> a = operand<T>(p.M, p.K, p.trans_a, p, rng);
  const Stored<T> b = operand<T>(p.K, p.N, p.trans_b, p, rng);
  const Stored<T> bias(1, p.N, 0, 0, rng);
  Stored<T> c(p.M, p.N, p.padding, p.offset, rng);
  const Stored<T> residual(p.M, p.N, p.padding, p.offset, rng);
  if (p.beta == 0) {
    std::fill(c.storage.begin(), c.storage.end(), std::numeric_limits<T>::quiet_NaN());
  }
  const T alpha = static_cast<T>(p.alpha);
  const T beta = static_cast<T>(p.beta);

  Stored<T> fast = c;
  gemm<T>(
      p.trans_a, p.trans_b, p.M, p.N, p.K, alpha, a.data(), a.ld, b.data(), b.ld, beta, fast.data(),
      fast.ld,
      Epilogue<T>{p.bias ? bias.data() : nullptr, p.relu, p.residual ? residual.data() : nullptr});
  Stored<T> expected = c;
  gemm_reference<T>(p.trans_a, p.trans_b, p.M, p.N, p.K, alpha, a.data(), a.ld, b.data(), b.ld,
                    beta, expected.data(), expected.ld);
  for (int64_t i = 0; i < p.M; ++i) {
    for (int64_t j = 0; j < p.N; ++j) {
      T& e = expected.data()[i * expected.ld + j];
      if (p.bias) e += bias.data()[j];
      if (p.residual) e += residual.data()[i * residual.ld + j];
      if (p.relu && e < 0) e = 0;
    }
  }
  // Magnitudes for the error bound: |alpha| |op(A)| |op(B)| + |beta| |C|.
  Stored<T> bound = c;
  const std::vector<T> abs_a = absolute(a.storage);
  const std::vector<T> abs_b = absolute(b.storage);
  bound.storage = absolute(bound.storage);
  gemm_reference<T>(p.trans_a, p.trans_b, p.M, p.N, p.K, std::abs(alpha), abs_a.data() + a.offset,
                    a.ld, abs_b.data() + b.offset, b.ld, std::abs(beta), bound.data(), bound.ld);

  const double eps = std::numeric_limits<T>::epsilon();
  int64_t failures = 0;
  for (int64_t i = 0; i < p.M; ++i) {
    for (int64_t j = 0; j < c.ld; ++j) {
      const int64_t at = i * c.ld + j;
      if (j < p.N) {
        const double magnitude = bound.data()[at] + (p.bias ? std::abs(bias.data()[j]) : 0) +
                                 (p.residual ? std::abs(residual.data()[at]) : 0);
        const double tolerance = 2 * (p.K + 4) * eps * magnitude + 1e-30;
        if (!(std::abs(fast.data()[at] - expected.data()[at]) <= tolerance)) ++failures;
      } else if (!equal_or_both_nan(fast.data()[at], c.data()[at])) {
        ++failures;  // padding written
      }
    }
  }
  CHECK(failures == 0);
}

template <class T>
void check_shapes(const std::vector<Problem>& shapes) {
  for (Problem p : shapes) {
    for (Transpose trans_a : {Transpose::No, Transpose::Yes}) {
      for (Transpose trans_b : {Transpose::No, Transpose::Yes}) {
        p.trans_a = trans_a;
        p.trans_b = trans_b;
        check_against_reference<T>(p);
      }
    }
  }
}

// M x N x K. Besides the odd shapes, sizes on either side of the edges of the micro-tile (8 or 6
// rows x 2 vectors: 16, 32 columns), of the K slices (A transposed: 384 floats, 192 doubles; not:
// 1024 floats, 512 doubles, or shallower so that one B block holds every column: 409 floats deep
// at 640 columns), of the column blocks (1 MiB of packed B: 1024 float columns at depth 256, two
// blocks of 352 at depth 384) and of the row blocks (256 micro-tiles).
const std::vector<Problem> kOddShapes = {
    {1, 1, 1},     {0, 5, 3},       {5, 0, 3},       {5, 3, 0},       {0, 0, 0},      {7, 13, 5},
    {33, 65, 17},  {100, 1, 300},   {1, 100, 300},   {129, 257, 63},  {5, 15, 4},     {6, 16, 4},
    {7, 17, 4},    {8, 32, 9},      {9, 33, 9},      {11, 31, 2},     {12, 32, 9},    {13, 33, 9},
    {16, 64, 8},   {17, 65, 8},     {23, 63, 8},     {48, 47, 383},   {17, 9, 384},   {17, 9, 385},
    {9, 17, 191},  {9, 17, 193},    {9, 17, 769},    {9, 17, 511},    {9, 17, 513},   {9, 17, 1023},
    {9, 17, 1025}, {13, 1024, 256}, {13, 1025, 256}, {9, 700, 384},   {1535, 3, 2},   {1537, 3, 2},
    {2047, 3, 2},  {2049, 3, 2},    {3073, 17, 3},   {200, 600, 400}, {64, 640, 1000}};

}  // namespace

TEST_CASE("gemm matches the reference on odd shapes") {
  SUBCASE("float") { check_shapes<float>(kOddShapes); }
  SUBCASE("double") { check_shapes<double>(kOddShapes); }
}

TEST_CASE("gemm with one to four rows (a linear layer on a token: B read in place) matches") {
  // Every row count of the path and one past it, columns on either side of its groups of 4 and
  // the SIMD width as K (8 doubles, 16 floats, with a scalar tail), the epilogue, misaligned and
  // padded rows, and one product large enough for two threads. check_shapes tries every
  // orientation: only row-major A with transposed B takes the path.
  std::vector<Problem> shapes;
  for (const int64_t M : {1, 2, 3, 4, 5})
    for (const int64_t N : {1, 3, 4, 5, 9})
      for (const int64_t K : {1, 7, 8, 15, 16, 17, 33}) shapes.push_back({M, N, K});
  for (Problem p : {Problem{1, 768, 256}, Problem{3, 1023, 1025}, Problem{1, 20000, 300}}) {
    shapes.push_back(p);
    p.alpha = -0.5;
    p.beta = 0.5;
    p.bias = p.relu = p.residual = true;
    p.padding = 3;
    p.offset = 1;
    shapes.push_back(p);
  }
  check_shapes<float>(shapes);
  check_shapes<double>(shapes);
}

TEST_CASE("gemm applies alpha and beta, and beta = 0 ignores NaN in C") {
  for (double alpha : {1.0, -2.5, 0.0}) {
    for (double beta : {0.0, 1.0, 0.5}) {
      std::vector<Problem> shapes = {{7, 13, 5}, {33, 65, 17}, {129, 257, 63}};
      for (Problem& p : shapes) {
        p.alpha = alpha;
        p.beta = beta;
      }
      check_shapes<float>(shapes);
      check_shapes<double>(shapes);
    }
  }
}

TEST_CASE(
    "gemm's epilogue adds the bias and the residual and applies relu as it stores, over every K "
    "slice") {
  // Shapes with one and several K slices, edge tiles, K = 0 (C = relu(beta C + bias + residual)),
  // one large enough for two threads, and one with two column blocks; padded and misaligned rows.
  const std::vector<Problem> base = {{7, 13, 5},   {33, 65, 17},   {9, 17, 769},  {5, 3, 0},
                                     {17, 9, 385}, {40, 100, 400}, {5, 1025, 769}};
  for (const bool bias : {false, true}) {
    for (const bool relu : {false, true}) {
      for (const bool residual : {false, true}) {
        for (const double beta : {0.0, 0.5}) {
          std::vector<Problem> shapes = base;
          for (Problem& p : shapes) {
            p.bias = bias;
            p.relu = relu;
            p.residual = residual;
            p.beta = beta;
            p.padding = residual ? 3 : 0;
            p.offset = residual ? 1 : 0;
          }
          check_shapes<float>(shapes);
          check_shapes<double>(shapes);
        }
      }
    }
  }
}

TEST_CASE("gemm's relu keeps NaN and clamps negatives to 0") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> a = {nan, 1.0f, -2.0f};  // 3 x 1
  const std::vector<float> b = {1.0f, 1.0f};        // 1 x 2
  const std::vector<float> bias = {0.0f, 0.5f};
  std::vector<float> c(6, 7.0f);
  gemm<float>(Transpose::No, Transpose::No, 3, 2, 1, 1.0f, a.data(), 1, b.data(), 2, 0.0f, c.data(),
              2, Epilogue<float>{bias.data(), true});
  CHECK(std::isnan(c[0]));
  CHECK(std::isnan(c[1]));
  CHECK(c[2] == 1.0f);
  CHECK(c[3] == 1.5f);
  CHECK(c[4] == 0.0f);
  CHECK(c[5] == 0.0f);
}

TEST_CASE("gemm handles leading dimensions wider than the rows and unaligned pointers") {
  for (int64_t padding : {1, 3, 16}) {
    for (int64_t offset : {0, 1}) {
      std::vector<Problem> shapes = {
          {7, 13, 5, {}, {}, 1, 0.5}, {33, 65, 17, {}, {}, 1, 0}, {129, 257, 63, {}, {}, 1, 1}};
      for (Problem& p : shapes) {
        p.padding = padding;
        p.offset = offset;
      }
      check_shapes<float>(shapes);
      check_shapes<double>(shapes);
    }
  }
}

TEST_CASE("gemm rejects negative sizes and short leading dimensions") {
  std::vector<float> x(64, 1.0f);
  const auto call = [&](int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb, int64_t ldc) {
    gemm<float>(Transpose::No, Transpose::No, M, N, K, 1.0f, x.data(), lda, x.data(), ldb, 0.0f,
                x.data(), ldc);
  };
  CHECK_THROWS_AS(call(-1, 2, 2, 2, 2, 2), tapegrad::Error);
  CHECK_THROWS_AS(call(2, 2, -3, 2, 2, 2), tapegrad::Error);
  CHECK_THROWS_AS(call(2, 3, 4, 3, 3, 3), tapegrad::Error);  // lda < K
  CHECK_THROWS_AS(call(2, 3, 4, 4, 2, 3), tapegrad::Error);  // ldb < N
  CHECK_THROWS_AS(call(2, 3, 4, 4, 3, 2), tapegrad::Error);  // ldc < N
  CHECK_THROWS_WITH_AS(call(-1, 2, 2, 2, 2, 2), doctest::Contains("gemm"), tapegrad::Error);
  CHECK_NOTHROW(call(2, 3, 4, 4, 3, 3));
  CHECK_THROWS_AS(gemm_reference<float>(Transpose::Yes, Transpose::No, 3, 2, 2, 1.0f, x.data(), 2,
                                        x.data(), 2, 0.0f, x.data(), 2),
                  tapegrad::Error);  // lda < M for a transposed A
}

namespace {

// gemm_batched against gemm_reference run problem by problem; a stride of 0 broadcasts.
template <class T>
void check_batched(int64_t batch, int64_t M, int64_t N, int64_t K, Transpose trans_a,
                   Transpose trans_b, bool broadcast_a, bool broadcast_b, double beta) {
  CAPTURE(batch);
  CAPTURE(M);
  CAPTURE(N);
  CAPTURE(K);
  CAPTURE(broadcast_a);
  CAPTURE(broadcast_b);
  std::mt19937 rng(7);
  std::uniform_real_distribution<T> uniform(-1, 1);
  const auto random_vector = [&](int64_t size) {
    std::vector<T> v(size);
    for (T& x : v) x = uniform(rng);
    return v;
  };
  const int64_t lda = trans_a == Transpose::Yes ? M : K;
  const int64_t ldb = trans_b == Transpose::Yes ? K : N;
  const int64_t stride_a = broadcast_a ? 0 : M * K + 3;
  const int64_t stride_b = broadcast_b ? 0 : K * N + 5;
  const int64_t stride_c = M * N + 2;
  const int64_t last = std::max<int64_t>(batch - 1, 0);
  const std::vector<T> a = random_vector(stride_a * last + M * K);
  const std::vector<T> b = random_vector(stride_b * last + K * N);
  const std::vector<T> c = random_vector(stride_c * (last + 1));
  const T alpha = T(0.75);

  std::vector<T> fast = c;
  gemm_batched<T>(trans_a, trans_b, batch, M, N, K, alpha, a.data(), lda, stride_a, b.data(), ldb,
                  stride_b, T(beta), fast.data(), N, stride_c);
  std::vector<T> expected = c;
  for (int64_t i = 0; i < batch; ++i) {
    gemm_reference<T>(trans_a, trans_b, M, N, K, alpha, a.data() + i * stride_a, lda,
                      b.data() + i * stride_b, ldb, T(beta), expected.data() + i * stride_c, N);
  }
  // Entries are in [-1, 1], so every error bound is at most (K + 3) eps (K + 1).
  const double tolerance = 2 * (K + 3) * std::numeric_limits<T>::epsilon() * (K + 1);
  int64_t failures = 0;
  for (size_t i = 0; i < c.size(); ++i) failures += !(std::abs(fast[i] - expected[i]) <= tolerance);
  CHECK(failures == 0);
}

}  // namespace

TEST_CASE("gemm_batched matches the reference, with stride 0 broadcasting") {
  for (Transpose trans_a : {Transpose::No, Transpose::Yes}) {
    for (Transpose trans_b : {Transpose::No, Transpose::Yes}) {
      for (bool broadcast_a : {false, true}) {
        for (bool broadcast_b : {false, true}) {
          check_batched<float>(5, 7, 13, 5, trans_a, trans_b, broadcast_a, broadcast_b, 0.5);
          check_batched<double>(3, 33, 65, 17, trans_a, trans_b, broadcast_a, broadcast_b, 0);
          check_batched<float>(8, 64, 96, 80, trans_a, trans_b, broadcast_a, broadcast_b, 1);
          check_batched<float>(3, 129, 130, 70, trans_a, trans_b, broadcast_a, broadcast_b, 0);
        }
      }
    }
  }
  // Few problems, each large enough to be split among threads.
  check_batched<float>(3, 200, 150, 100, Transpose::No, Transpose::Yes, true, false, 0);
  check_batched<float>(0, 7, 13, 5, Transpose::No, Transpose::No, false, false, 0);
  check_batched<double>(1, 7, 13, 5, Transpose::No, Transpose::No, false, false, 1);
}

TEST_CASE("gemm_batched rejects overlapping outputs and negative strides") {
  std::vector<float> x(256, 1.0f);
  CHECK_THROWS_AS(gemm_batched<float>(Transpose::No, Transpose::No, 2, 4, 4, 4, 1.0f, x.data(), 4,
                                      0, x.data(), 4, 0, 0.0f, x.data(), 4, 0),
                  tapegrad::Error);
  CHECK_THROWS_AS(gemm_batched<float>(Transpose::No, Transpose::No, 2, 4, 4, 4, 1.0f, x.data(), 4,
                                      -16, x.data(), 4, 0, 0.0f, x.data(), 4, 16),
                  tapegrad::Error);
  // C matrices of 4 x 4 with ldc 4 end 15 elements after they start: a stride of 15 overlaps by
  // one element, 16 does not.
  std::vector<float> c(32);
  CHECK_THROWS_WITH_AS(gemm_batched<float>(Transpose::No, Transpose::No, 2, 4, 4, 4, 1.0f, x.data(),
                                           4, 0, x.data(), 4, 0, 0.0f, c.data(), 4, 15),
                       "gemm_batched: the C matrices overlap (M=4, N=4, ldc=4, stride_c=15)",
                       tapegrad::Error);
  gemm_batched<float>(Transpose::No, Transpose::No, 2, 4, 4, 4, 1.0f, x.data(), 4, 0, x.data(), 4,
                      0, 0.0f, c.data(), 4, 16);
  CHECK(c == std::vector<float>(32, 4.0f));
}
