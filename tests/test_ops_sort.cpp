// sort and topk: gradient checks of their values in float64 (contiguous and non-contiguous
// inputs, every dim, both orders), values and indices against hand-sorted lines, stability and
// NaN, the gradient placed back by hand, and the error paths.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "tests/testing.hpp"

using namespace tapegrad;

namespace {

using Inputs = const std::vector<Tensor>&;

// gradcheck of fn on a contiguous, a transposed and a strided [2, 3, 4] input.
template <class Fn>
void check_inputs(Fn fn) {
  const auto f = [&](Inputs in) { return fn(in[0]); };
  CHECK(gradcheck(f, {testing::input({2, 3, 4}, 1)}));
  CHECK(gradcheck(f, {testing::transposed_input({2, 3, 4}, 2)}));
  CHECK(gradcheck(f, {testing::strided_input({2, 3, 4}, 3)}));
}

// 0, 1, 2, 0, 1, 2, ... (n of them).
Tensor remainder_of_three(int64_t n) {
  std::vector<double> values;
  for (int64_t i = 0; i < n; ++i) values.push_back(static_cast<double>(i % 3));
  return from_vector(values, {n});
}

// The values are x's at the indices, in the order asked, and equal values keep their order in x.
void check_stable(const Tensor& x, const ValuesAndIndices& sorted, bool descending) {
  const std::vector<double> values = sorted.values.to_vector();
  const std::vector<double> indices = sorted.indices.to_vector();
  for (std::size_t r = 0; r < values.size(); ++r) {
    INFO("rank ", r);
    CHECK(values[r] == x.at({static_cast<int64_t>(indices[r])}));
    if (r == 0) continue;
    CHECK((descending ? values[r] <= values[r - 1] : values[r] >= values[r - 1]));
    if (values[r] == values[r - 1]) CHECK(indices[r] > indices[r - 1]);
  }
}

}  // namespace

TEST_CASE("gradcheck sort") {
  for (int64_t dim : {0, 1, -1}) {
    for (bool descending : {false, true}) {
      INFO("dim ", dim, " descending ", descending);
      check_inputs([&](const Tensor& x) { return sort(x, dim, descending).values; });
    }
  }
}

TEST_CASE("gradcheck topk") {
  for (int64_t dim : {0, 1, -1}) {
    for (bool largest : {false, true}) {
      for (bool sorted : {false, true}) {
        INFO("dim ", dim, " largest ", largest, " sorted ", sorted);
        check_inputs([&](const Tensor& x) { return topk(x, 2, dim, largest, sorted).values; });
      }
    }
  }
}

TEST_CASE("sort values and indices, stable, NaN last") {
  const Tensor x = tensor({{3.0, 1.0, 2.0}, {1.0, 3.0, 1.0}}, {.dtype = kFloat64});
  const auto [values, indices] = sort(x);
  CHECK(indices.dtype() == kInt64);
  testing::check_values(values, {1, 2, 3, 1, 1, 3});
  testing::check_values(indices, {1, 2, 0, 0, 2, 1});  // the two 1s keep their order
  const auto [down, down_indices] = sort(x, -1, /*descending=*/true);
  testing::check_values(down, {3, 2, 1, 3, 1, 1});
  testing::check_values(down_indices, {0, 2, 1, 1, 0, 2});
  const auto [columns, column_indices] = sort(x, 0);
  testing::check_values(columns, {1, 1, 1, 3, 3, 2});
  testing::check_values(column_indices, {1, 0, 1, 0, 1, 0});
  testing::check_values(sort(x.transpose(0, 1), 1).indices, {1, 0, 0, 1, 1, 0});
  // Lines of five, their elements two apart (columns of two only ever compare first with last).
  const Tensor tall = tensor({{5.0, 0.0}, {3.0, 9.0}, {4.0, 1.0}, {1.0, 8.0}, {2.0, 7.0}});
  const auto [tall_values, tall_indices] = sort(tall, 0);
  testing::check_values(tall_values, {1, 0, 2, 1, 3, 7, 4, 8, 5, 9});
  testing::check_values(tall_indices, {3, 0, 4, 2, 1, 4, 2, 3, 0, 1});
  testing::check_values(topk(tall, 2, 0).indices, {0, 1, 2, 3});

  const Tensor with_nan = tensor({2.0, NAN, 1.0});
  const auto [up, up_indices] = sort(with_nan);
  testing::check_values(up_indices, {2, 0, 1});
  CHECK(std::isnan(up.at({2})));
  testing::check_values(sort(with_nan, 0, true).indices, {1, 0, 2});
}

TEST_CASE("sort and topk are stable on long lines of ties") {
  // 0, 1, 2, 0, 1, 2, ...: long enough for the sorting algorithms to move equal elements about;
  // as one line, and as the two columns of [150, 2] (lines whose elements are two apart).
  const Tensor x = remainder_of_three(300);
  const Tensor columns = x.reshape({150, 2});
  for (bool descending : {false, true}) {
    INFO("descending ", descending);
    check_stable(x, sort(x, 0, descending), descending);
    check_stable(x, topk(x, 150, 0, descending), descending);
    const auto [values, indices] = sort(columns, 0, descending);
    for (const int64_t column : {0, 1})
      check_stable(select(columns, 1, column),
                   {select(values, 1, column), select(indices, 1, column)}, descending);
  }
}

TEST_CASE("sort and topk send each value's gradient back where it came from") {
  const Tensor x = tensor({3.0, 1.0, 2.0}, {.dtype = kFloat64, .requires_grad = true});
  const Tensor weights = tensor({1.0, 2.0, 3.0}, {.dtype = kFloat64});
  (sort(x).values * weights).sum().backward();  // sorted: x[1], x[2], x[0]
  testing::check_values(x.grad(), {3, 1, 2});
  Tensor(x).zero_grad();
  (topk(x, 2).values * narrow(weights, 0, 0, 2)).sum().backward();  // x[0], x[2]
  testing::check_values(x.grad(), {1, 0, 2});
}

TEST_CASE("topk values and indices") {
  const Tensor x = tensor({{1.0, 5.0, 3.0, 5.0}, {4.0, 2.0, 6.0, 0.0}});
  const auto [values, indices] = topk(x, 2);
  CHECK(values.shape() == Shape{2, 2});
  testing::check_values(values, {5, 5, 6, 4});
  testing::check_values(indices, {1, 3, 2, 0});
  const auto [smallest, smallest_indices] = topk(x, 2, -1, /*largest=*/false);
  testing::check_values(smallest, {1, 3, 0, 2});
  testing::check_values(smallest_indices, {0, 2, 3, 1});
  const auto [in_place, in_place_indices] = topk(x, 2, 1, true, /*sorted=*/false);
  testing::check_values(in_place, {5, 5, 4, 6});  // in the order they appear in x
  testing::check_values(in_place_indices, {1, 3, 0, 2});
  const auto [column_values, column_indices] = topk(x, 1, 0);
  CHECK(column_values.shape() == Shape{1, 4});
  testing::check_values(column_values, {4, 5, 6, 5});
  testing::check_values(column_indices, {1, 0, 1, 0});
  CHECK(topk(x, 0).values.shape() == Shape{2, 0});
  testing::check_values(topk(x, 4).indices, {1, 3, 2, 0, 2, 0, 1, 3});
}

TEST_CASE("sort and topk errors name the op and the shapes") {
  const Tensor x = zeros({2, 4});
  CHECK_THROWS_WITH_AS(topk(x, 5),
                       doctest::Contains("topk: k = 5 is outside [0, 4], the size of dim 1 of "
                                         "shape [2, 4]; take k <= 4"),
                       Error);
  CHECK_THROWS_WITH_AS(topk(x, -1, 0), doctest::Contains("topk: k = -1 is outside [0, 2]"), Error);
  CHECK_THROWS_WITH_AS(topk(x, 1, 2),
                       doctest::Contains("topk: dim 2 is out of range for a tensor of 2 dims; "
                                         "take one in [-2, 1]"),
                       Error);
  CHECK_THROWS_WITH_AS(
      sort(x, -3), doctest::Contains("sort: dim -3 is out of range for a tensor of 2 dims"), Error);
  CHECK_THROWS_WITH_AS(sort(scalar_tensor(1.0)),
                       doctest::Contains("sort: a 0-dim tensor has no dim to order along"), Error);
  CHECK_THROWS_WITH_AS(sort(from_vector(std::vector<int64_t>{2, 1}, {2})),
                       doctest::Contains("sort: expected a floating tensor"), Error);
}
