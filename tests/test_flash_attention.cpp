// The fused attention kernels against their plain references: tile_product against the triple
// loop, flash_attention_forward/backward against attention_*_reference (every score of a head at
// once), on odd sizes (0, 1, tails of the SIMD width, several tiles), masks with fully masked
// rows, causality, dropout, strided and unaligned operands; results independent of the thread
// count; and a NaN in one head kept out of the next head's scratch tiles.
//
// Adding a case: one line in kCases (shapes, tiles, what to mask).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "autograd/error.hpp"
#include "autograd/kernels/flash_attention.hpp"
#include "autograd/kernels/simd.hpp"
#include "autograd/kernels/tile_product.hpp"
#include "autograd/threads.hpp"

namespace k = tapegrad::kernels;

namespace {

template <class T>
constexpr T kTolerance = sizeof(T) == 4 ? T(2e-5) : T(1e-12);

template <class T>
std::vector<T> random_vector(std::size_t n, uint32_t seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<T> normal;
  std::vector<T> values(n);
  for (T& v : values) v = normal(generator);
  return values;
}

template <class T>
void check_close(const std::vector<T>& actual, const std::vector<T>& expected, T tolerance) {
  REQUIRE(actual.size() == expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    if (std::isinf(expected[i])) {
      CHECK_MESSAGE(actual[i] == expected[i], "at ", i, ": ", actual[i], " vs ", expected[i]);
      continue;
    }
    CHECK_MESSAGE(std::abs(actual[i] - expected[i]) <= tolerance * (1 + std::abs(expected[i])),
                  "at ", i, ": ", actual[i], " vs ", expected[i]);
  }
}

// ---- tile_product ----

template <class T, k::TileUpdate Update>
void check_tile_product(int64_t M, int64_t N, int64_t K, bool transposed_a) {
  CAPTURE(M);
  CAPTURE(N);
  CAPTURE(K);
  CAPTURE(transposed_a);
  // One element past the start: unaligned.
  const std::vector<T> a = random_vector<T>(M * K + 1, 1), b = random_vector<T>(K * N + 1, 2);
  std::vector<T> simd = random_vector<T>(M * N + 1, 3), reference = simd;
  const k::TileOperand<T> a_view =
      transposed_a ? k::TileOperand<T>{a.data() + 1, 1, M} : k::TileOperand<T>{a.data() + 1, K, 1};
  k::tile_product<Update>(M, N, K, a_view, b.data() + 1, N, simd.data() + 1, N);
  k::tile_product_reference<Update>(M, N, K, a_view, b.data() + 1, N, reference.data() + 1, N);
  check_close(simd, reference, kTolerance<T>);
}

// ---- flash attention ----

struct Case {
  int64_t batch, heads, queries, keys, head_dim, value_dim;
  int64_t query_tile = 64, key_tile = 64;
  bool masked = false;  // a random [B, 1, Tq, Tk] mask with query 1 fully masked
  bool causal = false;
  double dropout = 0.0;
  bool strided = false;                // operands laid out [B, T, H, 2n] with a column stride of 2
  std::string_view strided_only = "";  // "q", "k" or "v": that operand and its gradient alone
                                       // (q with out), the others contiguous
};

constexpr Case kCases[] = {
    {1, 1, 0, 5, 4, 3},
    {1, 1, 5, 0, 4, 3},
    {1, 1, 1, 1, 1, 1},
    {2, 3, 15, 17, 5, 7, 16, 16},
    {2, 3, 15, 17, 5, 7, 16, 16, true, true, 0.0, true},
    {1, 2, 70, 70, 16, 17, 32, 32, true},
    {1, 2, 70, 70, 33, 16, 32, 16, false, true},
    {2, 1, 70, 33, 32, 32, 64, 64, true, true, 0.25},
    {1, 1, 33, 70, 17, 8, 16, 32, false, false, 0.5, true},
    {1, 1, 20, 31, 15, 16, 16, 16, true, false, 1.0},
    {2, 2, 64, 64, 32, 32, 64, 64, false, false, 0.0, true},
    {1, 1, 17, 1023, 16, 1, 16, 64, true, false, 0.1},
    // A few queries (dot products with the rows as they lie) take one strided operand each.
    {2, 2, 3, 40, 8, 5, 16, 16, true, false, 0.0, false, "q"},
    {2, 2, 3, 40, 8, 5, 16, 16, true, false, 0.0, false, "k"},
    {2, 2, 3, 40, 8, 5, 16, 16, true, false, 0.0, false, "v"},
};

// A [B, H, T, n] operand of random values in its own buffer, one element past the start.
template <class T>
struct Operand {
  Operand(int64_t B, int64_t H, int64_t T_, int64_t n, bool strided, uint32_t seed)
      : values(random_vector<T>(B * H * T_ * n * (strided ? 2 : 1) + 1, seed)) {
    view = strided ? k::HeadsView<T>{values.data() + 1, T_ * H * 2 * n, 2 * n, H * 2 * n, 2}
                   : k::HeadsView<T>{values.data() + 1, H * T_ * n, T_ * n, n, 1};
  }
  k::HeadsView<const T> in() const {
    return {view.data, view.batch_stride, view.head_stride, view.row_stride, view.column_stride};
  }
  std::vector<T> values;
  k::HeadsView<T> view;
};

template <class T>
struct Run {
  std::vector<T> out, lse, dq, dk, dv;
};

// The forward and backward of a case, by the kernels or by the references.
template <class T>
Run<T> run(const Case& c, const std::vector<bool>& mask_values, bool reference) {
  const int64_t B = c.batch, H = c.heads, Tq = c.queries, Tk = c.keys;
  k::AttentionProblem problem{.batch = B,
                              .heads = H,
                              .queries = Tq,
                              .keys = Tk,
                              .head_dim = c.head_dim,
                              .value_dim = c.value_dim,
                              .scale = 0.7,
                              .causal = c.causal,
                              .dropout = c.dropout,
                              .dropout_seed = 1234,
                              .query_tile = c.query_tile,
                              .key_tile = c.key_tile};
  const std::unique_ptr<bool[]> mask(new bool[mask_values.size() + 1]);
  std::copy(mask_values.begin(), mask_values.end(), mask.get());
  if (c.masked) problem.mask = {mask.get(), Tq * Tk, 0, Tk, 1};
  const auto strided = [&](std::string_view operand) {
    return c.strided || c.strided_only == operand;
  };
  const Operand<T> q(B, H, Tq, c.head_dim, strided("q"), 1),
      k(B, H, Tk, c.head_dim, strided("k"), 2), v(B, H, Tk, c.value_dim, strided("v"), 3),
      grad_out(B, H, Tq, c.value_dim, strided("q"), 4);
  Operand<T> out(B, H, Tq, c.value_dim, strided("q"), 5), dq(B, H, Tq, c.head_dim, strided("q"), 6),
      dk(B, H, Tk, c.head_dim, strided("k"), 7), dv(B, H, Tk, c.value_dim, strided("v"), 8);
  std::vector<T> lse(B * H * Tq);
  if (reference) {
    k::attention_forward_reference<T>(problem, q.in(), k.in(), v.in(), out.view, lse.data());
    k::attention_backward_reference<T>(problem, q.in(), k.in(), v.in(), grad_out.in(), dq.view,
                                       dk.view, dv.view);
  } else {
    k::flash_attention_forward<T>(problem, q.in(), k.in(), v.in(), out.view, lse.data());
    k::flash_attention_backward<T>(problem, q.in(), k.in(), v.in(), out.in(), lse.data(),
                                   grad_out.in(), dq.view, dk.view, dv.view);
  }
  return {out.values, lse, dq.values, dk.values, dv.values};
}

std::vector<bool> random_mask(const Case& c) {
  std::mt19937 generator(7);
  std::vector<bool> mask(c.batch * c.queries * c.keys);
  for (std::size_t i = 0; i < mask.size(); ++i) mask[i] = generator() % 3 != 0;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t j = 0; c.queries > 1 && j < c.keys; ++j)
      mask[(b * c.queries + 1) * c.keys + j] = false;
  return mask;
}

}  // namespace

TEST_CASE_TEMPLATE("kernels: tile_product matches the triple loop", T, float, double) {
  constexpr int64_t W = k::kWidth<k::Batch<T>>;
  for (const int64_t M : {int64_t{0}, int64_t{8}, int64_t{24}})
    for (const int64_t N : {int64_t{0}, W, 2 * W, 3 * W, 4 * W, 5 * W, 7 * W})
      for (const int64_t K : {0, 1, 15, 16, 17})
        for (const bool transposed_a : {false, true}) {
          check_tile_product<T, k::TileUpdate::Overwrite>(M, N, K, transposed_a);
          check_tile_product<T, k::TileUpdate::Accumulate>(M, N, K, transposed_a);
        }
}

TEST_CASE_TEMPLATE("kernels: flash attention matches the plain reference", T, float, double) {
  for (const Case& c : kCases) {
    CAPTURE(c.batch);
    CAPTURE(c.heads);
    CAPTURE(c.queries);
    CAPTURE(c.keys);
    CAPTURE(c.head_dim);
    CAPTURE(c.value_dim);
    CAPTURE(c.masked);
    CAPTURE(c.causal);
    CAPTURE(c.dropout);
    CAPTURE(c.strided);
    CAPTURE(c.strided_only);
    const std::vector<bool> mask = random_mask(c);
    const Run<T> flash = run<T>(c, mask, false), reference = run<T>(c, mask, true);
    check_close(flash.out, reference.out, kTolerance<T>);
    check_close(flash.lse, reference.lse, kTolerance<T>);
    check_close(flash.dq, reference.dq, kTolerance<T>);
    check_close(flash.dk, reference.dk, kTolerance<T>);
    check_close(flash.dv, reference.dv, kTolerance<T>);
  }
}

TEST_CASE("kernels: a fully masked query gets zeros and lse -inf, never NaN") {
  const Case c{1, 1, 3, 20, 4, 4, 16, 16, true};
  const std::vector<bool> mask = random_mask(c);  // query 1 sees nothing
  const Run<double> flash = run<double>(c, mask, false);
  CHECK(flash.lse[1] == -std::numeric_limits<double>::infinity());
  for (int64_t x = 0; x < 4; ++x) {
    CHECK(flash.out[1 + 4 + x] == 0);  // buffers start one element in; row 1 of [1, 1, 3, 4]
    CHECK(flash.dq[1 + 4 + x] == 0);
  }
  for (const auto* values : {&flash.out, &flash.dq, &flash.dk, &flash.dv})
    for (std::size_t i = 1; i < values->size(); ++i) CHECK(std::isfinite((*values)[i]));
}

TEST_CASE("kernels: a NaN in one head's values leaves the other heads' outputs alone") {
  // One thread runs head 0 and then head 1 in the same scratch tiles: head 1's output
  // accumulator must start from zeros, not from head 0's NaN (the first key tile's rescale by 0
  // would keep a NaN: 0 · NaN = NaN).
  const k::AttentionProblem problem{
      .batch = 1, .heads = 2, .queries = 5, .keys = 9, .head_dim = 4, .value_dim = 3};
  const Operand<double> q(1, 2, 5, 4, false, 1), key(1, 2, 9, 4, false, 2);
  Operand<double> v(1, 2, 9, 3, false, 3);
  v.view.data[0] = std::numeric_limits<double>::quiet_NaN();  // head 0, key 0
  Operand<double> flash(1, 2, 5, 3, false, 4), reference(1, 2, 5, 3, false, 4);
  const int threads = tapegrad::num_threads();
  tapegrad::set_num_threads(1);
  k::flash_attention_forward<double>(problem, q.in(), key.in(), v.in(), flash.view, nullptr);
  tapegrad::set_num_threads(threads);
  std::vector<double> lse(2 * 5);
  k::attention_forward_reference<double>(problem, q.in(), key.in(), v.in(), reference.view,
                                         lse.data());
  const std::size_t head_1 = 1 + 5 * 3;  // one element in, then head 0's [5, 3]
  CHECK(std::isnan(flash.values[1]));
  const std::vector<double> head_1_flash(flash.values.begin() + head_1, flash.values.end()),
      head_1_reference(reference.values.begin() + head_1, reference.values.end());
  check_close(head_1_flash, head_1_reference, kTolerance<double>);
}

TEST_CASE("kernels: flash attention's forward without lse (no backward to come) is the same") {
  const k::AttentionProblem problem{.batch = 2,
                                    .heads = 3,
                                    .queries = 70,
                                    .keys = 40,
                                    .head_dim = 16,
                                    .value_dim = 8,
                                    .causal = true,
                                    .query_tile = 32,
                                    .key_tile = 16};
  const Operand<float> q(2, 3, 70, 16, true, 1), key(2, 3, 40, 16, true, 2),
      v(2, 3, 40, 8, true, 3);
  Operand<float> with_lse(2, 3, 70, 8, true, 4), without_lse(2, 3, 70, 8, true, 4);
  std::vector<float> lse(2 * 3 * 70);
  k::flash_attention_forward<float>(problem, q.in(), key.in(), v.in(), with_lse.view, lse.data());
  k::flash_attention_forward<float>(problem, q.in(), key.in(), v.in(), without_lse.view, nullptr);
  CHECK(with_lse.values == without_lse.values);
}

TEST_CASE("kernels: flash attention gives the same bits with 1 and 2 threads") {
  const Case c{2, 3, 70, 70, 16, 16, 32, 32, true, true, 0.1};
  const std::vector<bool> mask = random_mask(c);
  const int threads = tapegrad::num_threads();
  tapegrad::set_num_threads(1);
  const Run<float> one = run<float>(c, mask, false);
  tapegrad::set_num_threads(2);
  const Run<float> two = run<float>(c, mask, false);
  tapegrad::set_num_threads(threads);
  CHECK(one.out == two.out);
  CHECK(one.lse == two.lse);
  CHECK(one.dq == two.dq);
  CHECK(one.dk == two.dk);
  CHECK(one.dv == two.dv);
}

TEST_CASE("kernels: attention dropout keeps a fraction 1 - p, the same for the same seed") {
  k::AttentionProblem problem{.batch = 2, .heads = 2, .queries = 64, .keys = 512, .dropout = 0.1};
  int64_t kept = 0, total = 0, changed_with_seed = 0;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t i = 0; i < 64; ++i)
        for (int64_t j = 0; j < 512; ++j, ++total) {
          const double factor = k::attention_dropout_factor(problem, b, h, i, j);
          CHECK((factor == 0 || std::abs(factor - 1 / 0.9) < 1e-15));
          kept += factor != 0;
          CHECK(factor == k::attention_dropout_factor(problem, b, h, i, j));
          k::AttentionProblem reseeded = problem;
          reseeded.dropout_seed = 1;
          changed_with_seed += factor != k::attention_dropout_factor(reseeded, b, h, i, j);
        }
  // 131072 draws: the standard deviation of the kept fraction is 0.0008.
  CHECK(std::abs(static_cast<double>(kept) / total - 0.9) < 0.005);
  CHECK(changed_with_seed > total / 10);
  problem.dropout = 1.0;
  CHECK(k::attention_dropout_factor(problem, 0, 0, 0, 0) == 0);
  problem.dropout = 0.0;
  CHECK(k::attention_dropout_factor(problem, 0, 0, 0, 0) == 1);
}

TEST_CASE(
    "kernels: flash attention rejects tiles that are not positive multiples of 16 and a negative "
    "window") {
  const k::AttentionProblem valid{.queries = 1, .keys = 1, .head_dim = 1, .value_dim = 1};
  float x = 1, out = 0, lse = 0;
  const k::HeadsView<const float> in{&x, 0, 0, 0, 0};
  const auto refusal = [&](const k::AttentionProblem& problem, const std::string& message) {
    CHECK_THROWS_WITH_AS(
        k::flash_attention_forward<float>(problem, in, in, in, {&out, 0, 0, 0, 0}, &lse),
        doctest::Contains(message.c_str()), tapegrad::Error);
  };
  k::AttentionProblem problem = valid;
  problem.query_tile = 24;
  refusal(problem, "flash_attention: query_tile 24 is not a positive multiple of 16");
  problem = valid;
  problem.key_tile = 0;
  refusal(problem, "flash_attention: key_tile 0 is not a positive multiple of 16");
  problem = valid;
  problem.key_tile = -16;
  refusal(problem, "flash_attention: key_tile -16 is not a positive multiple of 16");
  problem = valid;
  problem.window = -1;
  refusal(problem,
          "flash_attention: window -1 is negative (0 for none, W > 0 for the W latest keys)");
}
