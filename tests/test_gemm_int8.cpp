// The int8 GEMM: the reference against a product worked by hand, then every kernel this CPU runs
// (VNNI, AVX2, scalar) against the reference, exactly, on odd sizes (every tile edge:
// 1 to 7 rows, channels on either side of 16 and 64, K on either side of 4), unaligned starts
// and padded rows, and the extreme values (-128 and 127 everywhere, rows of zeros).
#include "autograd/kernels/gemm_int8.hpp"

#include <doctest/doctest.h>

#include <random>
#include <vector>

#include "autograd/error.hpp"

using namespace tapegrad::kernels;

namespace {

enum class Fill { Random, Lowest, Highest, Alternating };

std::vector<int8_t> matrix(int64_t size, Fill fill, std::mt19937& rng) {
  std::uniform_int_distribution<int> byte(-128, 127);
  std::vector<int8_t> values(static_cast<std::size_t>(size));
  for (std::size_t i = 0; i < values.size(); ++i) {
    switch (fill) {
      case Fill::Random:
        values[i] = static_cast<int8_t>(byte(rng));
        break;
      case Fill::Lowest:
        values[i] = -128;
        break;
      case Fill::Highest:
        values[i] = 127;
        break;
      case Fill::Alternating:
        values[i] = i % 2 ? int8_t{127} : int8_t{-128};
        break;
    }
  }
  return values;
}

// C of every kernel this CPU runs equals the reference's, and C's padding is untouched.
void check(int64_t M, int64_t N, int64_t K, Fill fill_a, Fill fill_b, int64_t padding = 0,
           int64_t offset = 0) {
  CAPTURE(M);
  CAPTURE(N);
  CAPTURE(K);
  CAPTURE(static_cast<int>(fill_a));
  CAPTURE(static_cast<int>(fill_b));
  CAPTURE(padding);
  CAPTURE(offset);
  std::mt19937 rng(static_cast<unsigned>(M * 10007 + N * 101 + K));
  const int64_t lda = K + padding, ldb = K + padding, ldc = N + padding;
  std::vector<int8_t> a = matrix(offset + M * lda, fill_a, rng);
  const std::vector<int8_t> b = matrix(offset + N * ldb, fill_b, rng);
  if (M > 2 && fill_a == Fill::Random)  // a row of zeros
    std::fill(a.begin() + offset + lda, a.begin() + offset + lda + K, int8_t{0});
  std::vector<int32_t> expected(static_cast<std::size_t>(M * ldc), -7);
  gemm_int8_reference(M, N, K, a.data() + offset, lda, b.data() + offset, ldb, expected.data(),
                      ldc);
  const PackedInt8Weights packed = pack_int8_weights(b.data() + offset, N, K, ldb);
  for (const Int8Kernel kernel : {Int8Kernel::vnni, Int8Kernel::avx2, Int8Kernel::scalar}) {
    if (!cpu_runs(kernel)) continue;
    CAPTURE(name(kernel));
    std::vector<int32_t> c(expected.size(), -7);
    gemm_int8(kernel, M, a.data() + offset, lda, packed, c.data(), ldc);
    CHECK(c == expected);
  }
}

}  // namespace

TEST_CASE("gemm_int8_reference: a product worked by hand") {
  // A = [1 -2 3; -128 127 0], B = [4 5 6; -1 0 -128]:
  // C = [1·4 - 2·5 + 3·6, -1 + 0 - 384; -512 + 635 + 0, 128 + 0 + 0] = [12 -385; 123 128]
  const std::vector<int8_t> a = {1, -2, 3, -128, 127, 0}, b = {4, 5, 6, -1, 0, -128};
  std::vector<int32_t> c(4);
  gemm_int8_reference(2, 2, 3, a.data(), 3, b.data(), 3, c.data(), 2);
  CHECK(c == std::vector<int32_t>{12, -385, 123, 128});
}

TEST_CASE("gemm_int8 equals the reference on odd sizes, exactly") {
  for (const int64_t M : {1, 2, 5, 6, 7, 13})
    for (const int64_t N : {1, 15, 16, 17, 63, 64, 65, 130})
      for (const int64_t K : {1, 3, 4, 5, 64, 67}) check(M, N, K, Fill::Random, Fill::Random);
  check(0, 16, 4, Fill::Random, Fill::Random);
  check(3, 0, 4, Fill::Random, Fill::Random);
  check(3, 16, 0, Fill::Random, Fill::Random);
}

TEST_CASE("gemm_int8: unaligned starts, padded rows, a size for two threads") {
  for (const int64_t offset : {1, 3})
    for (const int64_t padding : {1, 5})
      check(7, 65, 67, Fill::Random, Fill::Random, padding, offset);
  check(128, 768, 256, Fill::Random, Fill::Random);
}

TEST_CASE("gemm_int8: the extreme values, where the +128 shift must cancel exactly") {
  // -128 · -128 · K is the largest sum; 127 and -128 alternating checks the signs lane by lane.
  for (const Fill a : {Fill::Lowest, Fill::Highest, Fill::Alternating})
    for (const Fill b : {Fill::Lowest, Fill::Highest, Fill::Alternating}) check(7, 33, 1031, a, b);
}

TEST_CASE("gemm_int8: bad sizes are errors naming the op") {
  const std::vector<int8_t> b(8);
  CHECK_THROWS_WITH_AS(pack_int8_weights(b.data(), 2, 4, 3),
                       doctest::Contains("pack_int8_weights: leading dimension too small"),
                       tapegrad::Error);
  const PackedInt8Weights packed = pack_int8_weights(b.data(), 2, 4, 4);
  std::vector<int32_t> c(4);
  CHECK_THROWS_WITH_AS(gemm_int8(2, b.data(), 3, packed, c.data(), 2),
                       doctest::Contains("gemm_int8: leading dimension too small"),
                       tapegrad::Error);
  CHECK_THROWS_WITH_AS(gemm_int8(-1, b.data(), 4, packed, c.data(), 2),
                       doctest::Contains("gemm_int8: negative size"), tapegrad::Error);
}

TEST_CASE("gemm_int8: a kernel this CPU does not run is an error naming it") {
  const std::vector<int8_t> b(8);
  const PackedInt8Weights packed = pack_int8_weights(b.data(), 2, 4, 4);
  std::vector<int32_t> c(4);
  CHECK(cpu_runs(Int8Kernel::scalar));
  const bool fastest_is_first_run =
      fastest_int8_kernel() == Int8Kernel::vnni ||
      (fastest_int8_kernel() == Int8Kernel::avx2 && !cpu_runs(Int8Kernel::vnni)) ||
      !cpu_runs(Int8Kernel::avx2);
  CHECK(fastest_is_first_run);
  for (const Int8Kernel kernel : {Int8Kernel::vnni, Int8Kernel::avx2})
    if (!cpu_runs(kernel))
      CHECK_THROWS_WITH_AS(gemm_int8(kernel, 2, b.data(), 4, packed, c.data(), 2),
                           doctest::Contains("gemm_int8: this CPU does not run the"),
                           tapegrad::Error);
}
