// Reductions: gradient checks over all elements and over one or several dims with keepdim both
// ways (float64; contiguous, transposed and strided inputs), values against hand-computed numbers,
// and the error paths.
#include <doctest/doctest.h>

#include <vector>

#include "tests/testing.hpp"

using namespace tapegrad;

namespace {

using Inputs = const std::vector<Tensor>&;

// The dims lists every reduction is checked over, for a 3-dim input: one dim, a negative one,
// neighbouring dims, dims apart, and all of them.
const std::vector<Shape> kDimLists = {{0}, {-1}, {1}, {0, 1}, {1, 2}, {0, 2}, {}};

// gradcheck of reduce(x, dims, keepdim) on a contiguous, a transposed and a strided [2, 3, 4]
// input, over every dims list of kDimLists and keepdim both ways.
template <class Reduce>
void check_reduction(Reduce reduce) {
  for (const Shape& dims : kDimLists) {
    for (bool keepdim : {false, true}) {
      INFO("dims ", fmt::format("{}", dims), " keepdim ", keepdim);
      const auto fn = [&](Inputs in) { return reduce(in[0], dims, keepdim); };
      CHECK(gradcheck(fn, {testing::input({2, 3, 4}, 1)}));
      CHECK(gradcheck(fn, {testing::transposed_input({2, 3, 4}, 2)}));
      CHECK(gradcheck(fn, {testing::strided_input({2, 3, 4}, 3)}));
    }
  }
}

// [[1, 5, 3], [4, 2, 6]] in float64.
Tensor matrix() { return tensor({{1.0, 5.0, 3.0}, {4.0, 2.0, 6.0}}, {.dtype = kFloat64}); }

}  // namespace

TEST_CASE("gradcheck sum") {
  check_reduction(
      [](const Tensor& x, const Shape& dims, bool keepdim) { return sum(x, dims, keepdim); });
  CHECK(gradcheck([](Inputs in) { return sum(in[0]); }, {testing::transposed_input({3, 4})}));
  testing::check_values(sum(matrix()), {21.0});
  CHECK(sum(matrix()).shape() == Shape{});  // 0-dim, as torch.sum(x)
  testing::check_values(sum(matrix(), {0}), {5.0, 7.0, 9.0});
  CHECK(sum(matrix(), {1}, true).shape() == Shape{2, 1});
  testing::check_values(sum(matrix(), {1}, true), {9.0, 12.0});
}

TEST_CASE("gradcheck mean") {
  check_reduction(
      [](const Tensor& x, const Shape& dims, bool keepdim) { return mean(x, dims, keepdim); });
  CHECK(gradcheck([](Inputs in) { return mean(in[0]); }, {testing::strided_input({3, 4})}));
  testing::check_values(mean(matrix()), {3.5});
  CHECK(mean(matrix()).shape() == Shape{});
  testing::check_values(mean(matrix(), {-1}), {3.0, 4.0});
  CHECK(mean(matrix(), {0, 1}, true).shape() == Shape{1, 1});
}

TEST_CASE("gradcheck max") {
  for (int64_t dim : {0, 1, 2, -1}) {
    for (bool keepdim : {false, true}) {
      INFO("dim ", dim, " keepdim ", keepdim);
      const auto fn = [&](Inputs in) { return max(in[0], dim, keepdim).values; };
      CHECK(gradcheck(fn, {testing::input({2, 3, 4}, 1)}));
      CHECK(gradcheck(fn, {testing::transposed_input({2, 3, 4}, 2)}));
      CHECK(gradcheck(fn, {testing::strided_input({2, 3, 4}, 3)}));
    }
  }
  CHECK(gradcheck([](Inputs in) { return max(in[0]); }, {testing::input({3, 4})}));
  CHECK(gradcheck([](Inputs in) { return max(in[0]); }, {testing::transposed_input({3, 4})}));
}

TEST_CASE("max values, indices and shapes") {
  testing::check_values(max(matrix()), {6.0});
  CHECK(max(matrix()).shape() == Shape{});
  const auto [values, indices] = max(matrix(), 1);
  testing::check_values(values, {5.0, 6.0});
  testing::check_values(indices, {1.0, 2.0});
  CHECK(indices.dtype() == kInt64);
  const auto [column_values, column_indices] = max(matrix(), 0, true);
  CHECK(column_values.shape() == Shape{1, 3});
  testing::check_values(column_values, {4.0, 5.0, 6.0});
  testing::check_values(column_indices, {1.0, 0.0, 1.0});
  const Tensor transposed = matrix().transpose(0, 1);  // [[1, 4], [5, 2], [3, 6]]
  testing::check_values(max(transposed, 1).values, {4.0, 5.0, 6.0});
  testing::check_values(max(transposed, 1).indices, {1.0, 0.0, 1.0});
}

TEST_CASE("max sends the gradient to the first maximum only") {
  const Tensor x =
      tensor({{3.0, 7.0, 7.0}, {2.0, 2.0, 1.0}}, {.dtype = kFloat64, .requires_grad = true});
  max(x, 1).values.sum().backward();
  testing::check_values(x.grad(), {0, 1, 0, 1, 0, 0});
  const Tensor y = tensor({1.0, 9.0, 9.0}, {.dtype = kFloat64, .requires_grad = true});
  max(y).backward();
  testing::check_values(y.grad(), {0, 1, 0});
}

TEST_CASE("gradcheck var") {
  for (int64_t correction : {0, 1}) {
    INFO("correction ", correction);
    check_reduction([correction](const Tensor& x, const Shape& dims, bool keepdim) {
      return var(x, dims, correction, keepdim);
    });
  }
}

TEST_CASE("var values") {
  const Tensor x = tensor({1.0, 2.0, 3.0, 4.0}, {.dtype = kFloat64});
  testing::check_values(var(x, {}), {1.666667});
  testing::check_values(var(x, {0}, 0), {1.25});
  testing::check_values(var(matrix(), {1}), {4.0, 4.0});
  testing::check_values(var(matrix(), {0}, 1, true), {4.5, 4.5, 4.5});
  CHECK(var(matrix(), {0}, 1, true).shape() == Shape{1, 3});
  testing::check_values(var(matrix().transpose(0, 1), {0}), {4.0, 4.0});
  // Two passes: a large offset does not cancel the small spread away (E[x²] - E[x]² would).
  const Tensor offset = tensor({1e8 + 1.0, 1e8 + 2.0, 1e8 + 3.0, 1e8 + 4.0}, {.dtype = kFloat64});
  testing::check_values(var(offset, {}), {1.666667});
  testing::check_values(
      var(from_vector(std::vector<double>{1e4 + 1.0, 1e4 + 2.0, 1e4 + 3.0}, {3}), {}), {1.0}, 1e-3);
}

TEST_CASE("gradcheck sum_to") {
  for (const Shape& to : {Shape{4}, Shape{3, 1}, Shape{1, 3, 4}, Shape{2, 1, 1}, Shape{1}}) {
    INFO("to ", fmt::format("{}", to));
    CHECK(gradcheck([&](Inputs in) { return sum_to(in[0], to); },
                    {testing::transposed_input({2, 3, 4}, 1)}));
  }
  // [[1, 5, 3], [4, 2, 6]] summed back from broadcasting
  testing::check_values(sum_to(matrix(), {3}), {5, 7, 9});
  testing::check_values(sum_to(matrix(), {2, 1}), {9, 12});
  CHECK(sum_to(matrix(), {2, 1}).shape() == Shape{2, 1});
  testing::check_values(sum_to(matrix(), {1, 1}), {21});
  const Tensor m = matrix();
  CHECK(sum_to(m, {2, 3}).storage() == m.storage());  // nothing to sum: g itself
}

TEST_CASE("reduction errors name the op, the dims and the shape") {
  const Tensor x = zeros({2, 3});
  CHECK_THROWS_WITH_AS(
      sum(x, {2}), doctest::Contains("sum: dim 2 is out of range for a tensor of 2 dims"), Error);
  CHECK_THROWS_WITH_AS(mean(x, {0, -2}),
                       doctest::Contains("mean: dim -2 appears twice in [0, -2] for shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(
      max(x, -3), doctest::Contains("max: dim -3 is out of range for a tensor of 2 dims"), Error);
  CHECK_THROWS_WITH_AS(var(x, {1, 1}),
                       doctest::Contains("var: dim 1 appears twice in [1, 1] for shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(
      sum_to(x, {2}),
      doctest::Contains("sum_to: cannot sum shape [2, 3] to [2], which does not broadcast to it"),
      Error);
  CHECK_THROWS_WITH_AS(sum_to(x, {1, 2, 3}),
                       doctest::Contains("sum_to: cannot sum shape [2, 3] to [1, 2, 3]"), Error);
  CHECK_THROWS_WITH_AS(max(zeros({0, 3})),
                       doctest::Contains("max: the tensor of shape [0, 3] is empty"), Error);
  CHECK_THROWS_WITH_AS(max(zeros({3, 0}), 1),
                       doctest::Contains("max: dim 1 of shape [3, 0] is empty"), Error);
}

TEST_CASE("argmax and argmin give where the first extreme is, as int64") {
  testing::check_values(argmax(matrix(), 1), {1, 2});  // [[1, 5, 3], [4, 2, 6]]
  testing::check_values(argmax(matrix(), 0), {1, 0, 1});
  testing::check_values(argmin(matrix(), -1), {0, 1});
  testing::check_values(argmin(matrix(), 0), {0, 1, 0});
  CHECK(argmax(matrix(), 0, true).shape() == Shape{1, 3});
  CHECK(argmin(matrix(), 1, true).shape() == Shape{2, 1});
  const Tensor flat_max = argmax(matrix()), flat_min = argmin(matrix());
  CHECK(flat_max.shape() == Shape{});
  CHECK(flat_max.dtype() == kInt64);
  testing::check_values(flat_max, {5});  // 6 is the 6th element
  testing::check_values(flat_min, {0});
  testing::check_values(argmax(matrix().transpose(0, 1), 1), {1, 0, 1});
  // Ties go to the first occurrence; a NaN counts as the extreme both ways, as in PyTorch.
  testing::check_values(argmax(tensor({3.0, 7.0, 7.0})), {1});
  testing::check_values(argmin(tensor({2.0, 1.0, 1.0})), {1});
  testing::check_values(argmax(tensor({1.0, NAN, 0.0})), {1});
  testing::check_values(argmin(tensor({1.0, NAN, 0.0})), {1});
  // Not differentiable: indices never join the tape.
  const Tensor x = tensor({1.0, 3.0}, {.requires_grad = true});
  CHECK_FALSE(argmax(x).requires_grad());
  CHECK_FALSE(argmin(x, 0).requires_grad());
}

TEST_CASE("argmax and argmin errors name the op and the shape") {
  CHECK_THROWS_WITH_AS(argmax(zeros({2, 3}), 2),
                       doctest::Contains("argmax: dim 2 is out of range for a tensor of 2 dims"),
                       Error);
  CHECK_THROWS_WITH_AS(argmin(zeros({2, 3}), -3),
                       doctest::Contains("argmin: dim -3 is out of range for a tensor of 2 dims"),
                       Error);
  CHECK_THROWS_WITH_AS(argmin(zeros({0, 3})),
                       doctest::Contains("argmin: the tensor of shape [0, 3] is empty"), Error);
  CHECK_THROWS_WITH_AS(argmax(zeros({3, 0}), 1),
                       doctest::Contains("argmax: dim 1 of shape [3, 0] is empty"), Error);
  const Tensor ids = from_vector(std::vector<int64_t>{1, 2}, {2});
  CHECK_THROWS_WITH_AS(argmax(ids, 0),
                       doctest::Contains("argmax: expected a floating tensor (float32 or "
                                         "float64), got int64"),
                       Error);
  CHECK_THROWS_WITH_AS(argmin(ids, 0), doctest::Contains("argmin: expected a floating tensor"),
                       Error);
}
