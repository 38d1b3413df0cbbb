// Tensors: factories, views sharing storage, values, dtypes, seeded randomness (multinomial too)
// and printing.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "tests/testing.hpp"

using namespace tapegrad;

TEST_CASE("factories make the values they say") {
  testing::check_values(zeros({2, 2}), {0, 0, 0, 0});
  testing::check_values(full({3}, 2.5), {2.5, 2.5, 2.5});
  testing::check_values(arange(0, 1, 0.25), {0, 0.25, 0.5, 0.75});
  testing::check_values(arange(5, 0, -2), {5, 3, 1});
  testing::check_values(eye(2), {1, 0, 0, 1});
  const Tensor t = tensor({{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}}, {.dtype = kFloat64});
  CHECK(t.shape() == Shape{2, 2, 2});
  CHECK(t.at({1, 0, 1}) == 6);
  CHECK(t.at({-1, -1, -1}) == 8);
  CHECK(t.at({-2, -2, -2}) == 1);  // -size is the first
  CHECK(tensor({1, 2, 3}, {.dtype = kInt64}).dtype() == kInt64);
}

TEST_CASE("bad shapes and values in factories are errors") {
  CHECK_THROWS_WITH_AS(tensor({{1.0, 2.0}, {3.0}}),
                       doctest::Contains("nested lists of different shapes ([2] and [1])"), Error);
  CHECK_THROWS_WITH_AS(from_vector(std::vector<double>{1, 2, 3}, {2, 2}),
                       doctest::Contains("[2, 2]"), Error);
  CHECK_THROWS_WITH_AS(zeros({-1, 2}), doctest::Contains("negative size"), Error);
  CHECK_THROWS_WITH_AS(zeros({int64_t{1} << 40, int64_t{1} << 40}),
                       doctest::Contains("more elements than fit"), Error);
  CHECK_THROWS_WITH_AS(zeros({0, int64_t{1} << 40, int64_t{1} << 40}),  // strides would overflow
                       doctest::Contains("more elements than fit"), Error);
  CHECK_THROWS_WITH_AS(arange(0, 1, 0), doctest::Contains("arange"), Error);
  CHECK_THROWS_WITH_AS(ones({2}).item(), doctest::Contains("not one element"), Error);
  CHECK_THROWS_WITH_AS(ones({2}).at({2}), doctest::Contains("out of range"), Error);
  CHECK_THROWS_WITH_AS(ones({2}).at({-3}), doctest::Contains("out of range"), Error);
}

TEST_CASE("storage is 64-byte aligned") {
  for (int64_t n : {1, 3, 17, 1000})
    CHECK(reinterpret_cast<std::uintptr_t>(zeros({n}).data<float>()) % 64 == 0);
}

TEST_CASE("views share storage, contiguous and clone copy") {
  const Tensor x = arange(6).reshape({2, 3});
  const Tensor t = x.transpose(0, 1);
  CHECK(t.storage() == x.storage());
  CHECK_FALSE(t.is_contiguous());
  CHECK(t.shape() == Shape{3, 2});
  testing::check_values(t, {0, 3, 1, 4, 2, 5});
  const Tensor c = t.contiguous();
  CHECK(c.is_contiguous());
  CHECK(c.storage() != x.storage());
  testing::check_values(c, {0, 3, 1, 4, 2, 5});
  CHECK(x.reshape({3, 2}).storage() == x.storage());
  CHECK(x.clone().storage() != x.storage());
  CHECK_THROWS_WITH_AS(t.view({6}), doctest::Contains("not contiguous"), Error);
  CHECK_THROWS_WITH_AS(x.reshape({4, 2}), doctest::Contains("invalid for a tensor of shape [2, 3]"),
                       Error);
  CHECK(x.reshape({-1, 2}).shape() == Shape{3, 2});
}

TEST_CASE("to converts dtypes and back") {
  const Tensor x = tensor({1.5, -2.25});
  const Tensor d = x.to(kFloat64);
  CHECK(d.dtype() == kFloat64);
  testing::check_values(d, {1.5, -2.25});
  testing::check_values(x.to(kInt64), {1, -2});
  CHECK_THROWS_WITH_AS(x.data<double>(), doctest::Contains("float32"), Error);
}

TEST_CASE("set_data gives every handle the new data and refuses a non-leaf or a stale gradient") {
  Tensor x = tensor({1.0, 2.0}, {.requires_grad = true});
  const Tensor handle = x;  // as a module and an optimizer each hold one
  x.set_data(tensor({3.0, 4.0, 5.0}, {.dtype = kFloat64}));
  CHECK(handle.dtype() == kFloat64);
  CHECK(handle.shape() == Shape{3});
  CHECK(handle.requires_grad());
  testing::check_values(handle, {3, 4, 5}, 0);

  CHECK_THROWS_WITH_AS((x * 2.0).set_data(x),
                       doctest::Contains("set_data: only a leaf tensor can take new data (this one "
                                         "was made by 'mul_scalar')"),
                       Error);
  CHECK_THROWS_WITH_AS(x.set_data(zeros({3}, {.dtype = kInt64})),
                       doctest::Contains("a tensor that requires grad cannot hold int64 data"),
                       Error);
  x.set_grad(ones({3}, {.dtype = kFloat64}));
  CHECK_THROWS_WITH_AS(x.set_data(zeros({3})),
                       doctest::Contains("the tensor's gradient (shape [3], float64) would not "
                                         "match the new data (shape [3], float32); convert or "
                                         "clear the gradient first"),
                       Error);
  CHECK(handle.dtype() == kFloat64);  // a refused set_data changes nothing
}

TEST_CASE("the same seed gives the same numbers") {
  manual_seed(42);
  const std::vector<double> first = randn({100}).to_vector();
  manual_seed(42);
  CHECK(randn({100}).to_vector() == first);
  manual_seed(43);
  CHECK(randn({100}).to_vector() != first);
  Generator a(7), b(7);
  CHECK(rand({10}, {}, a).to_vector() == rand({10}, {}, b).to_vector());
  const std::string state = a.state();
  const double next = a.normal();
  b.set_state(state);
  CHECK(b.normal() == next);
}

// Every seeded result (the data splits, initial weights, the main job's figures) rests on these
// streams: a change to one changes them all, so it should be deliberate.
TEST_CASE("the generator's streams: the standard's mt19937_64, 53-bit uniforms, Box-Muller pairs") {
  Generator engine(5489);  // std::mt19937_64's default seed
  for (int i = 1; i < 10000; ++i) engine.next_u64();
  CHECK(engine.next_u64() == 9981545732273789042u);  // the C++ standard's 10000th value
  Generator raw(7), uniforms(7);
  for (int i = 0; i < 4; ++i)
    CHECK(uniforms.uniform() == static_cast<double>(raw.next_u64() >> 11) * 0x1.0p-53);
  // z0 = r cos θ, z1 = r sin θ with r = √(-2 ln u1), θ = 2π u2: two normals from two uniforms
  Generator normals(9), pairs(9);
  for (int pair = 0; pair < 3; ++pair) {
    const double u1 = 1.0 - pairs.uniform(), u2 = pairs.uniform();
    const double r = std::sqrt(-2.0 * std::log(u1)), theta = 2.0 * std::numbers::pi * u2;
    CHECK(normals.normal() == r * std::cos(theta));
    CHECK(normals.normal() == r * std::sin(theta));
  }
}

TEST_CASE("Generator::below draws uniformly below the bound, without modulo bias") {
  Generator generator(5);
  // bound = 3 * 2^62: a plain `draw % bound` would fold the top quarter of the draws onto
  // [0, 2^62) and give values below 2^62 half the time, not a third.
  const uint64_t bound = uint64_t{3} << 62;
  int low = 0;
  for (int i = 0; i < 3000; ++i) {
    const uint64_t value = generator.below(bound);
    CHECK(value < bound);
    low += value < (uint64_t{1} << 62);
  }
  CHECK(low > 850);
  CHECK(low < 1150);
  CHECK(generator.below(1) == 0);
  CHECK_THROWS_WITH_AS(generator.below(0), "Generator::below: bound 0; give 1 or more", Error);
}

TEST_CASE("random fills have the requested distribution") {
  Generator generator(3);
  const std::vector<double> u = uniform({20000}, -1, 3, {}, generator).to_vector();
  const std::vector<double> n = normal({20000}, 2, 0.5, {.dtype = kFloat64}, generator).to_vector();
  double u_mean = 0, n_mean = 0, n_var = 0;
  for (double v : u) {
    CHECK((v >= -1 && v < 3));
    u_mean += v / u.size();
  }
  for (double v : n) n_mean += v / n.size();
  for (double v : n) n_var += (v - n_mean) * (v - n_mean) / n.size();
  CHECK(u_mean == doctest::Approx(1.0).epsilon(0.02));
  CHECK(n_mean == doctest::Approx(2.0).epsilon(0.01));
  CHECK(std::sqrt(n_var) == doctest::Approx(0.5).epsilon(0.02));
  const std::vector<double> ints = randint(3, 6, {1000}, generator).to_vector();
  CHECK(*std::min_element(ints.begin(), ints.end()) == 3);
  CHECK(*std::max_element(ints.begin(), ints.end()) == 5);
  testing::check_values(uniform({2}, 2, 2, {}, generator), {2, 2});  // low == high, as torch
  testing::check_values(normal({2}, 3, 0, {}, generator), {3, 3});   // std 0, as torch
  CHECK_THROWS_WITH_AS(randint(3, 3, {2}, generator),
                       doctest::Contains("randint: empty range [3, 3)"), Error);
}

TEST_CASE("multinomial draws by weight, the same draws for the same seed") {
  const Tensor probs = arange(1.0, 11.0);  // weights 1, 2, ..., 10
  for (bool replacement : {false, true}) {
    INFO("replacement ", replacement);
    Generator a(7), b(7), c(8);
    const std::vector<double> first = multinomial(probs, 8, replacement, a).to_vector();
    CHECK(multinomial(probs, 8, replacement, b).to_vector() == first);
    CHECK(multinomial(probs, 8, replacement, a).to_vector() != first);  // the stream moved on
    CHECK(multinomial(probs, 8, replacement, c).to_vector() != first);
    manual_seed(5);
    const std::vector<double> by_default = multinomial(probs, 8, replacement).to_vector();
    manual_seed(5);
    CHECK(multinomial(probs, 8, replacement).to_vector() == by_default);
  }
  // One category possible: always it; rows drawn apart; weights need not sum to 1.
  Generator generator(1);
  const Tensor sure = multinomial(tensor({0.0, 0.0, 2.0, 0.0}), 5, true, generator);
  CHECK(sure.dtype() == kInt64);
  CHECK(sure.shape() == Shape{5});
  testing::check_values(sure, {2, 2, 2, 2, 2});
  const Tensor rows = multinomial(tensor({{1.0, 0.0}, {0.0, 3.0}}), 3, true, generator);
  CHECK(rows.shape() == Shape{2, 3});
  testing::check_values(rows, {0, 0, 0, 1, 1, 1});
  std::vector<double> both =
      multinomial(tensor({0.0, 3.0, 0.0, 1.0}), 2, false, generator).to_vector();
  std::sort(both.begin(), both.end());
  CHECK(both == std::vector<double>{1, 3});  // distinct, never a zero-weight category

  // Frequencies: with replacement, category 1 of [0.2, 0.8] four times in five; without, the
  // first draw of [1, 3] is category 1 three times in four (then the other one).
  const std::vector<double> draws =
      multinomial(tensor({0.2, 0.8}), 20000, true, generator).to_vector();
  CHECK(std::count(draws.begin(), draws.end(), 1.0) / 20000.0 ==
        doctest::Approx(0.8).epsilon(0.02));
  const Tensor pairs = multinomial(ones({20000, 1}) * tensor({1.0, 3.0}), 2, false, generator);
  const std::vector<double> firsts = select(pairs, 1, 0).to_vector();
  const std::vector<double> seconds = select(pairs, 1, 1).to_vector();
  CHECK(std::count(firsts.begin(), firsts.end(), 1.0) / 20000.0 ==
        doctest::Approx(0.75).epsilon(0.02));
  for (std::size_t i = 0; i < firsts.size(); ++i) CHECK(firsts[i] + seconds[i] == 1.0);
}

TEST_CASE("multinomial errors name the probs' shape and say what to do") {
  CHECK_THROWS_WITH_AS(
      multinomial(tensor({0.5, -0.5, 1.0}), 1),
      doctest::Contains("multinomial: probs[1] = -0.5 (probs of shape [3]); every probability "
                        "must be finite and non-negative"),
      Error);
  CHECK_THROWS_WITH_AS(multinomial(tensor({{0.5, 1.0}, {NAN, 1.0}}), 1),
                       doctest::Contains("multinomial: probs[1, 0] = nan (probs of shape [2, 2])"),
                       Error);
  CHECK_THROWS_WITH_AS(multinomial(tensor({{1.0, 1.0}, {0.0, 0.0}}), 1, true),
                       doctest::Contains("multinomial: row 1 of probs (shape [2, 2]) is all zero; "
                                         "give at least one category a positive probability"),
                       Error);
  CHECK_THROWS_WITH_AS(
      multinomial(tensor({0.2, 0.3, 0.5}), 4),
      doctest::Contains("multinomial: 4 samples without replacement from 3 categories (probs "
                        "shape [3]); pass replacement = true or ask for at most 3"),
      Error);
  CHECK_THROWS_WITH_AS(
      multinomial(tensor({0.2, 0.0, 0.5}), 3),
      doctest::Contains("multinomial: 3 samples without replacement, but row 0 of probs (shape "
                        "[3]) has only 2 categories of nonzero probability; pass replacement = "
                        "true or ask for at most 2"),
      Error);
  CHECK_THROWS_WITH_AS(multinomial(tensor({0.2, 0.8}), 0),
                       doctest::Contains("multinomial: num_samples 0 must be positive"), Error);
  CHECK_THROWS_WITH_AS(multinomial(from_vector(std::vector<int64_t>{1, 2}, {2}), 1),
                       doctest::Contains("multinomial: probs must be float32 or float64 of shape "
                                         "[C] or [B, C], got int64 of shape [2]"),
                       Error);
  CHECK_THROWS_WITH_AS(multinomial(ones({2, 2, 2}), 1),
                       doctest::Contains("got float32 of shape [2, 2, 2]"), Error);
}

TEST_CASE("tensors print like PyTorch") {
  CHECK(fmt::format("{}", tensor({{1, 2}, {3, 4}})) == "tensor([[1., 2.],\n        [3., 4.]])");
  CHECK(fmt::format("{}", tensor({0.5, -1.25}, {.dtype = kFloat64, .requires_grad = true})) ==
        "tensor([ 0.5000, -1.2500], dtype=float64, requires_grad=True)");
  CHECK(fmt::format("{}", scalar_tensor(3.5)) == "tensor(3.5000)");
  // Scientific when the nonzero magnitudes go below 1e-4 or span more than 1e3 (zeros aside)
  CHECK(fmt::format("{}", tensor({1e-5, 1.0})) == "tensor([1.0000e-05, 1.0000e+00])");
  CHECK(fmt::format("{}", tensor({1.0, 2000.5})) == "tensor([1.0000e+00, 2.0005e+03])");
  CHECK(fmt::format("{}", tensor({0.0, 0.5})) == "tensor([0.0000, 0.5000])");
  CHECK(fmt::format("{}", tensor({1, 0}, {.dtype = kBool})) == "tensor([ True, False])");
  CHECK(fmt::format("{}", zeros({0, 3})) == "tensor([], size=(0, 3))");
  CHECK(fmt::format("{}", ones({2}, {.requires_grad = true}) * 2.0) ==
        "tensor([2., 2.], grad_fn=<mul_scalar>)");
  CHECK(fmt::format("{}", tensor({{{1, 2}}, {{3, 4}}})) ==
        "tensor([[[1., 2.]],\n\n        [[3., 4.]]])");
  CHECK(fmt::format("{}", arange(8).reshape({2, 2, 2})) ==
        "tensor([[[0., 1.],\n"
        "         [2., 3.]],\n"
        "\n"
        "        [[4., 5.],\n"
        "         [6., 7.]]])");
  CHECK(fmt::format("{}", zeros({0})) == "tensor([])");
  CHECK(fmt::format("{}", zeros({0}, {.dtype = kInt64})) == "tensor([], dtype=int64)");
}

TEST_CASE("the number style comes from the nonzero finite values, with torch's thresholds") {
  CHECK(fmt::format("{}", zeros({2})) == "tensor([0., 0.])");
  CHECK(fmt::format("{}", tensor({0.0, NAN})) == "tensor([0., nan])");
  // Non-finite values take no part in the width
  CHECK(fmt::format("{}", tensor({INFINITY, 1.0})) == "tensor([inf, 1.])");
  // Integers too go scientific when their magnitudes span more than 1e3 or pass 1e8
  CHECK(fmt::format("{}", tensor({1.0, 1000.0})) == "tensor([   1., 1000.])");
  CHECK(fmt::format("{}", tensor({1.0, 2000.0})) == "tensor([1.0000e+00, 2.0000e+03])");
  CHECK(fmt::format("{}", tensor({1e8})) == "tensor([100000000.])");
  CHECK(fmt::format("{}", tensor({2e8})) == "tensor([2.0000e+08])");
  // 1e-4 itself is not below 1e-4 (in float64: float32's nearest value is below it)
  CHECK(fmt::format("{}", tensor({1e-4, 0.05}, {.dtype = kFloat64})) ==
        "tensor([0.0001, 0.0500], dtype=float64)");
}

TEST_CASE("long rows wrap at 80 characters, as PyTorch's") {
  CHECK(fmt::format("{}", arange(10)) == "tensor([0., 1., 2., 3., 4., 5., 6., 7., 8., 9.])");
  CHECK(fmt::format("{}", arange(30)) ==
        "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n"
        "        14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25., 26., 27.,\n"
        "        28., 29.])");
  // A suffix goes to a new line when the last one would pass 80 characters as torch measures it
  // (2 more than the line): 14 values fit with ", dtype=float64)" and 15 do not.
  CHECK(fmt::format("{}", ones({14}, {.dtype = kFloat64})) ==
        "tensor([1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.], dtype=float64)");
  CHECK(fmt::format("{}", ones({15}, {.dtype = kFloat64, .requires_grad = true})) ==
        "tensor([1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.],\n"
        "       dtype=float64, requires_grad=True)");
  CHECK(fmt::format("{}", arange(20, {.dtype = kFloat64, .requires_grad = true}) * 1.5) ==
        "tensor([ 0.0000,  1.5000,  3.0000,  4.5000,  6.0000,  7.5000,  9.0000, 10.5000,\n"
        "        12.0000, 13.5000, 15.0000, 16.5000, 18.0000, 19.5000, 21.0000, 22.5000,\n"
        "        24.0000, 25.5000, 27.0000, 28.5000], dtype=float64,\n"
        "       grad_fn=<mul_scalar>)");
}

TEST_CASE("tensors of more than 1000 values print their first and last 3 along each dim") {
  CHECK(std::ranges::count(fmt::format("{}", ones({1000})), '1') == 1000);
  CHECK(fmt::format("{}", ones({1001})) == "tensor([1., 1., 1.,  ..., 1., 1., 1.])");
  // The style comes from the values shown: a huge value in the hidden middle does not count.
  CHECK(fmt::format("{}", cat({ones({500}), full({1}, 1e9), ones({500})})) ==
        "tensor([1., 1., 1.,  ..., 1., 1., 1.])");
  // As torch.arange(2000.) prints: the shown values span more than 1e3
  CHECK(fmt::format("{}", arange(2000)) ==
        "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n"
        "        1.9990e+03])");
  CHECK(fmt::format("{}", arange(2000, {.dtype = kInt64}).reshape({40, 50})) ==
        "tensor([[   0,    1,    2,  ...,   47,   48,   49],\n"
        "        [  50,   51,   52,  ...,   97,   98,   99],\n"
        "        [ 100,  101,  102,  ...,  147,  148,  149],\n"
        "        ...,\n"
        "        [1850, 1851, 1852,  ..., 1897, 1898, 1899],\n"
        "        [1900, 1901, 1902,  ..., 1947, 1948, 1949],\n"
        "        [1950, 1951, 1952,  ..., 1997, 1998, 1999]])");
  // A dim of 6 or fewer is shown whole
  CHECK(fmt::format("{}", arange(1200, {.dtype = kInt64}).reshape({6, 200})) ==
        "tensor([[   0,    1,    2,  ...,  197,  198,  199],\n"
        "        [ 200,  201,  202,  ...,  397,  398,  399],\n"
        "        [ 400,  401,  402,  ...,  597,  598,  599],\n"
        "        [ 600,  601,  602,  ...,  797,  798,  799],\n"
        "        [ 800,  801,  802,  ...,  997,  998,  999],\n"
        "        [1000, 1001, 1002,  ..., 1197, 1198, 1199]])");
  CHECK(fmt::format("{}", arange(1500, {.dtype = kInt64}).reshape({5, 300})) ==
        "tensor([[   0,    1,    2,  ...,  297,  298,  299],\n"
        "        [ 300,  301,  302,  ...,  597,  598,  599],\n"
        "        [ 600,  601,  602,  ...,  897,  898,  899],\n"
        "        [ 900,  901,  902,  ..., 1197, 1198, 1199],\n"
        "        [1200, 1201, 1202,  ..., 1497, 1498, 1499]])");
  // Between blocks, the elided middle has blank lines around it like a block
  CHECK(fmt::format("{}", arange(1008, {.dtype = kInt64}).reshape({7, 2, 72})) ==
        "tensor([[[   0,    1,    2,  ...,   69,   70,   71],\n"
        "         [  72,   73,   74,  ...,  141,  142,  143]],\n"
        "\n"
        "        [[ 144,  145,  146,  ...,  213,  214,  215],\n"
        "         [ 216,  217,  218,  ...,  285,  286,  287]],\n"
        "\n"
        "        [[ 288,  289,  290,  ...,  357,  358,  359],\n"
        "         [ 360,  361,  362,  ...,  429,  430,  431]],\n"
        "\n"
        "        ...,\n"
        "\n"
        "        [[ 576,  577,  578,  ...,  645,  646,  647],\n"
        "         [ 648,  649,  650,  ...,  717,  718,  719]],\n"
        "\n"
        "        [[ 720,  721,  722,  ...,  789,  790,  791],\n"
        "         [ 792,  793,  794,  ...,  861,  862,  863]],\n"
        "\n"
        "        [[ 864,  865,  866,  ...,  933,  934,  935],\n"
        "         [ 936,  937,  938,  ..., 1005, 1006, 1007]]])");
}

TEST_CASE("empty tensors are contiguous") {
  CHECK(zeros({2, 0}).is_contiguous());
  CHECK(zeros({0, 3}).transpose(0, 1).is_contiguous());
}

TEST_CASE("allclose and equal compare like torch.allclose and torch.equal") {
  const Tensor a = tensor({1.0, 2.0, 3.0});
  CHECK(allclose(a, a + 1e-6));
  CHECK_FALSE(allclose(a, a + 1e-3));
  CHECK(allclose(a, a + 1e-3, /*rtol=*/1e-3, /*atol=*/1e-3));
  // The tolerance is atol + rtol * |b|: b's magnitude alone, so (as torch's) not symmetric.
  CHECK(allclose(tensor({100.0}), tensor({100.05}), /*rtol=*/1e-3, /*atol=*/0));
  CHECK_FALSE(allclose(tensor({0.01}), tensor({0.0105}), /*rtol=*/1e-3, /*atol=*/0));
  CHECK(allclose(tensor({1.0}), tensor({2.0}), /*rtol=*/0.5, /*atol=*/0));        // 1 <= 0.5 * 2
  CHECK_FALSE(allclose(tensor({2.0}), tensor({1.0}), /*rtol=*/0.5, /*atol=*/0));  // 1 > 0.5 * 1
  CHECK_FALSE(allclose(a, tensor({1.0, 2.0})));
  const Tensor with_nan = tensor({1.0, std::nan("")});
  CHECK_FALSE(allclose(with_nan, with_nan));
  CHECK(allclose(with_nan, with_nan, 1e-5, 1e-8, /*equal_nan=*/true));
  CHECK(equal(a, a.clone()));
  CHECK_FALSE(equal(a, a + 1e-6));
  CHECK(equal(a.reshape({3, 1}).transpose(0, 1), tensor({{1.0, 2.0, 3.0}})));
}
