// Shape ops: views (reshape, view, transpose, permute, unsqueeze, squeeze, expand, narrow, slice,
// split, select), index_select, gather, scatter_add, cat and stack. Gradient checks in float64 on
// contiguous and non-contiguous inputs, values against hand-written tensors, and the error paths.
#include <doctest/doctest.h>

#include <vector>

#include "tests/testing.hpp"

using namespace tapegrad;

namespace {

using Inputs = const std::vector<Tensor>&;

// gradcheck of fn on a contiguous, a transposed and a strided input of `shape`.
template <class Fn>
void check_views_of(const Shape& shape, Fn fn) {
  const auto f = [&](Inputs in) { return fn(in[0]); };
  CHECK(gradcheck(f, {testing::input(shape, 1)}));
  CHECK(gradcheck(f, {testing::transposed_input(shape, 2)}));
  CHECK(gradcheck(f, {testing::strided_input(shape, 3)}));
}

// 0, 1, ..., n - 1 in float64, shaped.
Tensor counting(const Shape& shape) {
  return arange(static_cast<double>(numel(shape)), {.dtype = kFloat64}).reshape(shape);
}

// True when y shares x's storage (a view, not a copy).
bool is_view_of(const Tensor& y, const Tensor& x) { return y.storage() == x.storage(); }

Tensor indices(std::vector<int64_t> values) {
  const int64_t n = static_cast<int64_t>(values.size());
  return from_vector(values, {n});
}

}  // namespace

TEST_CASE("gradcheck reshape") {
  check_views_of({2, 3, 4}, [](const Tensor& x) { return reshape(x, {4, -1}); });
  check_views_of({2, 3}, [](const Tensor& x) { return reshape(x, {6}); });
  const Tensor x = counting({2, 3});
  CHECK(is_view_of(reshape(x, {3, 2}), x));
  CHECK_FALSE(is_view_of(reshape(x.transpose(0, 1), {6}), x));
  testing::check_values(reshape(x.transpose(0, 1), {6}), {0, 3, 1, 4, 2, 5});
}

TEST_CASE("gradcheck view") {
  CHECK(gradcheck([](Inputs in) { return view(in[0], {3, 2, 2}); }, {testing::input({4, 3})}));
  CHECK(gradcheck([](Inputs in) { return view(in[0], {-1}); }, {testing::input({2, 3, 2})}));
  const Tensor x = counting({2, 3});
  const Tensor v = view(x, {3, -1});
  CHECK(v.shape() == Shape{3, 2});
  CHECK(is_view_of(v, x));
}

TEST_CASE("gradcheck flatten") {
  check_views_of({2, 3, 4}, [](const Tensor& x) { return flatten(x, 1); });
  check_views_of({2, 3, 4}, [](const Tensor& x) { return flatten(x, 0, -2); });
  const Tensor x = counting({2, 3, 4});
  CHECK(flatten(x).shape() == Shape{24});
  CHECK(flatten(x, 1).shape() == Shape{2, 12});
  CHECK(flatten(x, 1, 1).shape() == Shape{2, 3, 4});
  CHECK(is_view_of(flatten(x, 1), x));
  testing::check_values(flatten(x.transpose(1, 2), 1, 2),
                        {0,  4,  8,  1,  5,  9,  2,  6,  10, 3,  7,  11,  //
                         12, 16, 20, 13, 17, 21, 14, 18, 22, 15, 19, 23});
  CHECK(flatten(counting({})).shape() == Shape{1});  // as torch: a 0-dim tensor becomes [1]
}

TEST_CASE("gradcheck transpose") {
  check_views_of({2, 3, 4}, [](const Tensor& x) { return transpose(x, 0, 2); });
  check_views_of({3, 4}, [](const Tensor& x) { return transpose(x, -1, -2); });
  testing::check_values(transpose(counting({2, 3}), 0, 1), {0, 3, 1, 4, 2, 5});
}

TEST_CASE("gradcheck permute") {
  check_views_of({2, 3, 4}, [](const Tensor& x) { return permute(x, {2, 0, 1}); });
  check_views_of({2, 3, 4}, [](const Tensor& x) { return permute(x, {1, -1, 0}); });
  const Tensor p = permute(counting({2, 3, 4}), {2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.at({1, 1, 2}) == 21.0);  // x[1, 2, 1] = 1·12 + 2·4 + 1
}

TEST_CASE("gradcheck unsqueeze") {
  check_views_of({3, 4}, [](const Tensor& x) { return unsqueeze(x, 0); });
  check_views_of({3, 4}, [](const Tensor& x) { return unsqueeze(x, 1); });
  check_views_of({3, 4}, [](const Tensor& x) { return unsqueeze(x, -1); });
  CHECK(unsqueeze(counting({3, 4}), 1).shape() == Shape{3, 1, 4});
  CHECK(unsqueeze(counting({3, 4}), -1).shape() == Shape{3, 4, 1});
}

TEST_CASE("gradcheck squeeze") {
  check_views_of({3, 1, 4}, [](const Tensor& x) { return squeeze(x, 1); });
  check_views_of({3, 4, 1}, [](const Tensor& x) { return squeeze(x, -1); });
  CHECK(squeeze(counting({1, 3}), 0).shape() == Shape{3});
}

TEST_CASE("gradcheck expand") {
  check_views_of({3, 1}, [](const Tensor& x) { return expand(x, {2, 3, 4}); });
  check_views_of({1, 4}, [](const Tensor& x) { return expand(x, {3, -1}); });
  // -1 at x's first dim, after a new one
  check_views_of({3, 1}, [](const Tensor& x) { return expand(x, {2, -1, 4}); });
  const Tensor e = expand(counting({3, 1}), {2, 3, 2});
  testing::check_values(e, {0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2});
  CHECK(expand(counting({3, 1}), {3, 0}).shape() == Shape{3, 0});  // as torch: a size-1 dim to 0
}

TEST_CASE("gradcheck narrow") {
  check_views_of({4, 5}, [](const Tensor& x) { return narrow(x, 1, 1, 3); });
  check_views_of({4, 5}, [](const Tensor& x) { return narrow(x, 0, -3, 2); });
  const Tensor x = counting({3, 4});
  const Tensor n = narrow(x, 1, 1, 2);
  CHECK(is_view_of(n, x));
  testing::check_values(n, {1, 2, 5, 6, 9, 10});
  CHECK(narrow(x, 0, 3, 0).shape() == Shape{0, 4});
}

TEST_CASE("gradcheck slice") {
  check_views_of({4, 6}, [](const Tensor& x) { return slice(x, 1, 1, 6, 2); });
  check_views_of({4, 6}, [](const Tensor& x) { return slice(x, 0, -3, -1); });
  check_views_of({4, 6}, [](const Tensor& x) { return slice(x, -1, 0, 100, 4); });
  check_views_of({2, 5, 3}, [](const Tensor& x) { return slice(x, 1, 1, 5, 2); });  // inner 3
  const Tensor x = counting({8});
  testing::check_values(slice(x, 0, 1, 7, 3), {1, 4});
  testing::check_values(slice(x, 0, -3, 8), {5, 6, 7});
  testing::check_values(slice(x, 0, -100, 2), {0, 1});
  CHECK(slice(x, 0, 6, 2).numel() == 0);
  const Tensor every_other = slice(x, 0, 0, 8, 2);
  CHECK(is_view_of(every_other, x));
  testing::check_values(every_other, {0, 2, 4, 6});
}

TEST_CASE("gradcheck split") {
  check_views_of({5, 3}, [](const Tensor& x) {
    const std::vector<Tensor> pieces = split(x, 2, 0);
    return pieces[0].sum() + 2.0 * pieces[1].sum() + 3.0 * pieces[2].sum();
  });
  check_views_of({2, 7}, [](const Tensor& x) { return split(x, 3, -1)[2]; });
  const std::vector<Tensor> pieces = split(counting({5}), 2);
  REQUIRE(pieces.size() == 3);
  testing::check_values(pieces[0], {0, 1});
  testing::check_values(pieces[1], {2, 3});
  testing::check_values(pieces[2], {4});
  CHECK(split(counting({4}), 4).size() == 1);
}

TEST_CASE("gradcheck index_select") {
  check_views_of({4, 3}, [](const Tensor& x) { return index_select(x, 0, indices({3, 0, 3, 1})); });
  check_views_of({2, 5}, [](const Tensor& x) { return index_select(x, 1, indices({4, 4, 4})); });
  const Tensor x = counting({3, 2});
  testing::check_values(index_select(x, 0, indices({2, 0, 2})), {4, 5, 0, 1, 4, 5});
  testing::check_values(index_select(x, -1, from_vector(std::vector<int64_t>{1}, {})), {1, 3, 5});
  const Tensor leaf = zeros({3, 2}, {.dtype = kFloat64, .requires_grad = true});
  index_select(leaf, 0, indices({1, 1, 2})).sum().backward();
  testing::check_values(leaf.grad(), {0, 0, 2, 2, 1, 1});  // repeated indices accumulate
}

TEST_CASE("gradcheck select") {
  check_views_of({3, 4}, [](const Tensor& x) { return select(x, 1, 2); });
  check_views_of({3, 4}, [](const Tensor& x) { return select(x, 0, -1); });
  check_views_of({2, 3, 4}, [](const Tensor& x) { return select(x, 1, 0); });
  const Tensor x = counting({2, 3});  // [[0, 1, 2], [3, 4, 5]]
  const Tensor row = select(x, 0, 1);
  CHECK(row.shape() == Shape{3});
  CHECK(is_view_of(row, x));
  testing::check_values(row, {3, 4, 5});
  testing::check_values(select(x, 1, -1), {2, 5});
  testing::check_values(select(x, 1, -3), {0, 3});  // -size is the first entry
  testing::check_values(select(select(x, 0, 1), 0, 2), {5});
  const Tensor leaf = zeros({2, 3}, {.dtype = kFloat64, .requires_grad = true});
  (select(leaf, 1, 1) * counting({2})).sum().backward();
  testing::check_values(leaf.grad(), {0, 0, 0, 0, 1, 0});
}

TEST_CASE("gradcheck gather") {
  const Tensor along_rows = from_vector(std::vector<int64_t>{1, 0, 3, 3, 2, 0}, {2, 3});
  const Tensor along_columns = from_vector(std::vector<int64_t>{2, 2, 0, 1, 1, 1, 2, 0}, {4, 2});
  check_views_of({4, 3}, [&](const Tensor& x) { return gather(x, 0, along_rows); });
  check_views_of({4, 3}, [&](const Tensor& x) { return gather(x, -1, along_columns); });
  check_views_of({2, 3, 4}, [](const Tensor& x) {
    return gather(x, 2, from_vector(std::vector<int64_t>{3, 0, 0, 1, 2, 3}, {2, 1, 3}));
  });
  const Tensor x = counting({2, 3});  // [[0, 1, 2], [3, 4, 5]]
  const Tensor picked = gather(x, 1, from_vector(std::vector<int64_t>{0, 0, 1, 0}, {2, 2}));
  CHECK(picked.shape() == Shape{2, 2});
  testing::check_values(picked, {0, 0, 4, 3});
  testing::check_values(gather(x, 0, from_vector(std::vector<int64_t>{1, 0, 1}, {1, 3})),
                        {3, 1, 5});
  const Tensor leaf = zeros({2, 3}, {.dtype = kFloat64, .requires_grad = true});
  gather(leaf, 1, from_vector(std::vector<int64_t>{0, 0, 1, 0}, {2, 2})).sum().backward();
  testing::check_values(leaf.grad(), {2, 0, 0, 1, 1, 0});  // repeated indices accumulate
}

TEST_CASE("gradcheck scatter_add") {
  const Tensor index = from_vector(std::vector<int64_t>{0, 0, 2, 1}, {2, 2});
  for (const Shape& src_shape : {Shape{2, 2}, Shape{3, 4}}) {  // src as large as index, or larger
    INFO("src shape ", fmt::format("{}", src_shape));
    const auto fn = [&](Inputs in) { return scatter_add(in[0], 1, index, in[1]); };
    CHECK(gradcheck(fn, {testing::input({2, 3}, 1), testing::input(src_shape, 2)}));
    CHECK(gradcheck(fn,
                    {testing::transposed_input({2, 3}, 3), testing::strided_input(src_shape, 4)}));
  }
  CHECK(gradcheck(
      [](Inputs in) {
        return scatter_add(in[0], 0, indices({2, 0, 2}).reshape({3, 1}), in[1]);
      },
      {testing::input({3, 2}, 5), testing::transposed_input({3, 2}, 6)}));
  const Tensor x = counting({2, 3});  // [[0, 1, 2], [3, 4, 5]]
  const Tensor src = tensor({{1.0, 2.0, 9.0}, {3.0, 4.0, 9.0}}, {.dtype = kFloat64});
  testing::check_values(scatter_add(x, 1, index, src), {3, 1, 2, 3, 8, 8});  // the 9s are unused
  testing::check_values(scatter_add(x, 0, indices({0, 1, 0}).reshape({1, 3}),
                                    tensor({{10.0, 20.0, 30.0}}, {.dtype = kFloat64})),
                        {10, 1, 32, 3, 24, 5});
  testing::check_values(x, {0, 1, 2, 3, 4, 5});  // out of place
  const Tensor x_leaf = zeros({2, 3}, {.dtype = kFloat64, .requires_grad = true});
  const Tensor src_leaf = zeros({2, 3}, {.dtype = kFloat64, .requires_grad = true});
  (scatter_add(x_leaf, 1, index, src_leaf) * (counting({2, 3}) + 1.0)).sum().backward();
  testing::check_values(x_leaf.grad(), {1, 2, 3, 4, 5, 6});
  testing::check_values(src_leaf.grad(), {1, 1, 0, 6, 5, 0});  // read where each src went
}

TEST_CASE("gradcheck cat") {
  const auto fn = [](Inputs in) { return cat({in[0], in[1], in[2]}, 1); };
  CHECK(gradcheck(
      fn, {testing::input({2, 3}, 1), testing::input({2, 1}, 2), testing::input({2, 2}, 3)}));
  CHECK(gradcheck(fn, {testing::transposed_input({2, 3}, 4), testing::strided_input({2, 2}, 5),
                       testing::input({2, 4}, 6)}));
  CHECK(gradcheck(
      [](Inputs in) {
        return cat({in[0], in[1]}, 0);
      },
      {testing::transposed_input({2, 3}, 7), testing::input({1, 3}, 8)}));
  const Tensor a = counting({2, 2}), b = counting({2, 1}) + 10.0;
  testing::check_values(cat({a, b}, -1), {0, 1, 10, 2, 3, 11});
  testing::check_values(cat({a, a}, 0), {0, 1, 2, 3, 0, 1, 2, 3});
  const Tensor frozen = counting({2, 2});
  const Tensor learnt = zeros({2, 3}, {.dtype = kFloat64, .requires_grad = true});
  (cat({frozen, learnt}, 1) * counting({2, 5})).sum().backward();
  testing::check_values(learnt.grad(), {2, 3, 4, 7, 8, 9});
}

TEST_CASE("gradcheck stack") {
  const auto fn0 = [](Inputs in) { return stack({in[0], in[1]}, 0); };
  const auto fn2 = [](Inputs in) { return stack({in[0], in[1]}, -1); };
  CHECK(gradcheck(fn0, {testing::input({2, 3}, 1), testing::transposed_input({2, 3}, 2)}));
  CHECK(gradcheck(fn2, {testing::strided_input({2, 3}, 3), testing::input({2, 3}, 4)}));
  const Tensor a = counting({2}), b = counting({2}) + 10.0;
  const Tensor s0 = stack({a, b}, 0), s1 = stack({a, b}, 1);
  CHECK(s0.shape() == Shape{2, 2});
  testing::check_values(s0, {0, 1, 10, 11});
  testing::check_values(s1, {0, 10, 1, 11});
}

TEST_CASE("view op errors name the op and the shapes") {
  const Tensor x = counting({2, 3});
  CHECK_THROWS_WITH_AS(
      view(x.transpose(0, 1), {6}),
      doctest::Contains("view: the tensor of shape [3, 2] and strides [1, 3] is not contiguous"),
      Error);
  CHECK_THROWS_WITH_AS(
      reshape(x, {4, -1}),
      doctest::Contains("reshape: shape [4, -1] is invalid for a tensor of shape [2, 3]"), Error);
  CHECK_THROWS_WITH_AS(reshape(x, {-1, -1}),
                       doctest::Contains("reshape: only one size may be -1 in [-1, -1]"), Error);
  CHECK_THROWS_WITH_AS(reshape(zeros({0, 3}), {-1, 0}),
                       doctest::Contains("reshape: shape [-1, 0] leaves the -1 ambiguous"), Error);
  CHECK_THROWS_WITH_AS(
      reshape(x, {-1, 0}),
      doctest::Contains("reshape: shape [-1, 0] is invalid for a tensor of shape [2, 3]"), Error);
  CHECK_THROWS_WITH_AS(
      flatten(counting({2, 3, 4}), 2, -2),
      doctest::Contains("flatten: start_dim 2 is after end_dim 1 (shape [2, 3, 4])"), Error);
  CHECK_THROWS_WITH_AS(transpose(x, 0, 2),
                       doctest::Contains("transpose: dim 2 is out of range for a tensor of 2 dims"),
                       Error);
  CHECK_THROWS_WITH_AS(permute(x, {0, 0}), doctest::Contains("permute: dim 0 repeats in [0, 0]"),
                       Error);
  CHECK_THROWS_WITH_AS(permute(x, {0}),
                       doctest::Contains("permute: 1 dims given for a tensor of shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(unsqueeze(x, 3),
                       doctest::Contains("unsqueeze: dim 3 is out of range for a tensor of 3 dims"),
                       Error);
  CHECK_THROWS_WITH_AS(
      squeeze(x, 1), doctest::Contains("squeeze: dim 1 of shape [2, 3] has size 3, not 1"), Error);
  CHECK_THROWS_WITH_AS(expand(x, {2, 4}),
                       doctest::Contains("expand: cannot expand shape [2, 3] to [2, 4]"), Error);
  CHECK_THROWS_WITH_AS(expand(x, {3}),
                       doctest::Contains("expand: cannot expand shape [2, 3] to fewer dims [3]"),
                       Error);
  CHECK_THROWS_WITH_AS(expand(counting({3, 1}), {3, -2}),
                       doctest::Contains("expand: invalid size -2 in [3, -2]"), Error);
  CHECK_THROWS_WITH_AS(
      expand(x, {-1, 2, 3}),
      doctest::Contains("expand: invalid size -1 in [-1, 2, 3]: a size is 0 or more, "
                        "or -1 to keep a dim of shape [2, 3]"),
      Error);
}

TEST_CASE("indexing errors name the op and the shapes") {
  const Tensor x = counting({2, 3});
  CHECK_THROWS_WITH_AS(
      narrow(x, 1, 2, 2),
      doctest::Contains("narrow: start 2 and length 2 do not fit in dim 1 of shape [2, 3]"), Error);
  CHECK_THROWS_WITH_AS(narrow(x, 2, 0, 1),
                       doctest::Contains("narrow: dim 2 is out of range for a tensor of 2 dims"),
                       Error);
  CHECK_THROWS_WITH_AS(slice(x, 1, 0, 3, 0),
                       doctest::Contains("slice: step 0 must be positive (dim 1 of shape [2, 3])"),
                       Error);
  CHECK_THROWS_WITH_AS(
      split(x, 0, 1),
      doctest::Contains("split: split_size 0 must be positive (dim 1 of shape [2, 3])"), Error);
  CHECK_THROWS_WITH_AS(
      index_select(x, 1, indices({0, 3})),
      doctest::Contains("index_select: index 3 is out of range for dim 1 of shape [2, 3]"), Error);
  CHECK_THROWS_WITH_AS(
      index_select(x, 0, indices({-1})),
      doctest::Contains("index_select: index -1 is out of range for dim 0 of shape [2, 3]"), Error);
  CHECK_THROWS_WITH_AS(index_select(x, 0, zeros({2})),
                       doctest::Contains("index_select: the index must be a 0- or 1-dim int64 "
                                         "tensor, got float32 of shape [2] (input shape [2, 3])"),
                       Error);
}

TEST_CASE("select, gather and scatter_add errors name the op and the shapes") {
  const Tensor x = counting({2, 3});
  CHECK_THROWS_WITH_AS(select(x, 1, 3),
                       doctest::Contains("select: index 3 is out of range for dim 1 of shape [2, "
                                         "3]; it must be in [-3, 3)"),
                       Error);
  CHECK_THROWS_WITH_AS(select(x, 0, -3),
                       doctest::Contains("select: index -3 is out of range for dim 0"), Error);
  CHECK_THROWS_WITH_AS(select(x, 2, 0),
                       doctest::Contains("select: dim 2 is out of range for a tensor of 2 dims"),
                       Error);
  CHECK_THROWS_WITH_AS(select(scalar_tensor(1.0), 0, 0),
                       doctest::Contains("select: a 0-dim tensor has no dim"), Error);
  const Tensor pairs = from_vector(std::vector<int64_t>{0, 1, 1, 0}, {2, 2});
  CHECK_THROWS_WITH_AS(gather(x, 1, zeros({2, 2})),
                       doctest::Contains("gather: index must be int64, got float32 of shape [2, "
                                         "2] (input shape [2, 3]); convert it with .to(kInt64)"),
                       Error);
  CHECK_THROWS_WITH_AS(gather(x, 1, indices({0, 1})),
                       doctest::Contains("gather: index of shape [2] must have as many dims as "
                                         "the input of shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(
      gather(x, 1, indices({0, 1, 2}).reshape({3, 1})),
      doctest::Contains("gather: index of shape [3, 1] is larger than the input of shape [2, 3] in "
                        "dim 0; only dim 1 (the one indexed) may be larger"),
      Error);
  CHECK_THROWS_WITH_AS(gather(x, 1, indices({0, 3}).reshape({1, 2})),
                       doctest::Contains("gather: index 3 at position [0, 1] is out of range [0, "
                                         "3) for dim 1 of input shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(gather(x, 0, indices({-1}).reshape({1, 1})),
                       doctest::Contains("gather: index -1 at position [0, 0] is out of range"),
                       Error);
  CHECK_THROWS_WITH_AS(gather(x, -3, pairs),
                       doctest::Contains("gather: dim -3 is out of range for a tensor of 2 dims"),
                       Error);
  CHECK_THROWS_WITH_AS(scatter_add(x, 1, pairs, zeros({2, 2})),
                       doctest::Contains("scatter_add: src (float32 of shape [2, 2]) must have "
                                         "the input's dtype and number of dims (float64 of shape "
                                         "[2, 3])"),
                       Error);
  CHECK_THROWS_WITH_AS(scatter_add(x, 1, pairs, counting({2, 1})),
                       doctest::Contains("scatter_add: index of shape [2, 2] is larger than src of "
                                         "shape [2, 1] in dim 1; it may be no larger in any dim"),
                       Error);
  CHECK_THROWS_WITH_AS(
      scatter_add(x, 0, from_vector(std::vector<int64_t>{0, 2, 2, 0}, {2, 2}), counting({2, 2})),
      doctest::Contains("scatter_add: index 2 at position [0, 1] is out of range "
                        "[0, 2) for dim 0 of input shape [2, 3]"),
      Error);
}

TEST_CASE("join errors name the op and the shapes") {
  const Tensor a = counting({2, 3});
  CHECK_THROWS_WITH_AS(cat({a, counting({3, 2})}, 0),
                       doctest::Contains("cat: tensor 1 of shape [3, 2] and float64 does not match "
                                         "tensor 0 of shape [2, 3] and float64 outside dim 0"),
                       Error);
  CHECK_THROWS_WITH_AS(cat({a, counting({6})}, 0), doctest::Contains("cat: tensor 1 of shape [6]"),
                       Error);
  CHECK_THROWS_WITH_AS(cat({a, zeros({2, 1})}, 1),
                       doctest::Contains("cat: tensor 1 of shape [2, 1] and float32 does not match "
                                         "tensor 0 of shape [2, 3] and float64"),
                       Error);
  CHECK_THROWS_WITH_AS(cat({}, 0), doctest::Contains("cat: expected at least one tensor, got none"),
                       Error);
  CHECK_THROWS_WITH_AS(
      cat({a}, 2), doctest::Contains("cat: dim 2 is out of range for a tensor of 2 dims"), Error);
  CHECK_THROWS_WITH_AS(
      stack({a, counting({3, 2})}, 0),
      doctest::Contains("stack: tensor 1 has shape [3, 2], tensor 0 has shape [2, 3]"), Error);
  CHECK_THROWS_WITH_AS(stack({a, a}, 3),
                       doctest::Contains("stack: dim 3 is out of range for a tensor of 3 dims"),
                       Error);
}
