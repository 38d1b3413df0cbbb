// Sliding-window (local causal) attention: query i sees keys i - W < j <= i.
// - gradcheck (float64 central differences) through the kernel itself with 16-wide tiles, T = 70
//   (not a multiple of the tile), W = 1, 3, 16 and larger than T, and through the ops with their
//   own tiles; with a padding mask that leaves some queries no key (zeros, never NaN);
// - the kernel against its plain reference (every W from 1 to 40 on 16- and 32-wide tiles, where
//   the band's edges fall on every tile edge), the fused op against the plain masked path
//   (window_mask) forward and backward in float32 and float64, nn's fused and plain paths;
// - W >= T is causal attention bit for bit, W = 1 copies v;
// - the same bits with 1 and 2 threads; errors naming the op and the value.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "autograd/autograd.hpp"
#include "autograd/kernels/flash_attention.hpp"
#include "autograd/threads.hpp"
#include "nn/mask.hpp"
#include "nn/multi_head_attention.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;
namespace k = tapegrad::kernels;

namespace {

using Inputs = const std::vector<Tensor>&;

// A [B, H, T, n] tensor as the kernel reads or writes it.
template <class T>
k::HeadsView<T> heads_view(const Tensor& x) {
  const Shape& s = x.strides();
  return {x.data<std::remove_const_t<T>>(), s[0], s[1], s[2], s[3]};
}

// The kernel's own tiles and options, as a test-only op on [B, H, T, *] tensors: what the ops
// do, with tiles small enough that T = 70 spans several, so that whole tiles are skipped.
struct KernelOptions {
  int64_t window = 0;
  bool causal = false;
  Tensor mask = {};  // bool [B, 1, 1, Tk] (key padding), or none
  double dropout = 0.0;
  int64_t query_tile = 16, key_tile = 16;
  int64_t query_offset = 0;  // query i sits at key i + query_offset
};

template <class T>
k::AttentionProblem problem_of(const Tensor& q, const Tensor& key, const Tensor& v,
                               const KernelOptions& options) {
  k::AttentionProblem problem{.batch = q.size(0),
                              .heads = q.size(1),
                              .queries = q.size(2),
                              .keys = key.size(2),
                              .head_dim = q.size(3),
                              .value_dim = v.size(3),
                              .scale = 0.6,
                              .causal = options.causal,
                              .window = options.window,
                              .query_offset = options.query_offset,
                              .dropout = options.dropout,
                              .dropout_seed = 99,
                              .query_tile = options.query_tile,
                              .key_tile = options.key_tile};
  if (options.mask.defined())
    problem.mask = {options.mask.data<bool>(), options.mask.strides()[0], 0, 0,
                    options.mask.strides()[3]};
  return problem;
}

Tensor kernel_attention(const Tensor& q, const Tensor& key, const Tensor& v,
                        const KernelOptions& options) {
  using T = double;
  const k::AttentionProblem problem = problem_of<T>(q, key, v, options);
  const Tensor out = Tensor::empty({q.size(0), q.size(1), q.size(2), v.size(3)}, kFloat64);
  const Tensor lse = Tensor::empty({q.size(0), q.size(1), q.size(2)}, kFloat64);
  const Tensor q_ = q.detach(), k_ = key.detach(), v_ = v.detach();
  k::flash_attention_forward<T>(problem, heads_view<const T>(q_), heads_view<const T>(k_),
                                heads_view<const T>(v_), heads_view<T>(out), lse.data<T>());
  return record("test.kernel_attention", out, {q, key, v},
                [problem, q_, k_, v_, out = out.detach(), lse,
                 mask = options.mask](const Tensor& g) -> Grads {
                  const Tensor dq = Tensor::empty(q_.shape(), kFloat64),
                               dk = Tensor::empty(k_.shape(), kFloat64),
                               dv = Tensor::empty(v_.shape(), kFloat64);
                  k::flash_attention_backward<T>(problem, heads_view<const T>(q_),
                                                 heads_view<const T>(k_), heads_view<const T>(v_),
                                                 heads_view<const T>(out), lse.data<T>(),
                                                 heads_view<const T>(g), heads_view<T>(dq),
                                                 heads_view<T>(dk), heads_view<T>(dv));
                  return {dq, dk, dv};
                });
}

// The plain path on [B, H, T, *] inputs: every score, the band of window_mask (and `mask`),
// softmax, product.
Tensor plain_attention(const Tensor& q, const Tensor& key, const Tensor& v, int64_t window,
                       const Tensor& mask = {}, double scale = 0.6) {
  Tensor scores = matmul(q, key.transpose(-2, -1)) * scale;
  Tensor allowed = nn::window_mask(q.size(-2), key.size(-2), window);
  if (mask.defined()) allowed = allowed && mask;
  scores = masked_fill(scores, !allowed, -std::numeric_limits<double>::infinity());
  return matmul(softmax(scores, -1), v);
}

Tensor random_leaf(const Shape& shape, DType dtype, uint64_t seed) {
  Generator generator(seed);
  return randn(shape, {.dtype = dtype, .requires_grad = true}, generator);
}

// The largest |a - b| over the largest |b| (at least 1).
double relative_gap(const Tensor& a, const Tensor& b) {
  const Tensor a64 = a.to(kFloat64), b64 = b.to(kFloat64);
  return max(abs(a64 - b64)).item() / std::max(1.0, max(abs(b64)).item());
}

// [B, 1, 1, T] key padding: the first lengths[b] keys are real.
Tensor key_padding(const std::vector<int64_t>& lengths, int64_t T) {
  return nn::padding_mask(lengths, T).view({static_cast<int64_t>(lengths.size()), 1, 1, T});
}

// out, dq, dk, dv of `attention` on fresh leaves, with the gradient `g` of the output.
template <class Attention>
std::vector<Tensor> forward_backward(const Tensor& q, const Tensor& key, const Tensor& v,
                                     const Tensor& g, Attention attention) {
  const Tensor q_ = q.detach().requires_grad_(), k_ = key.detach().requires_grad_(),
               v_ = v.detach().requires_grad_();
  const Tensor out = attention(q_, k_, v_);
  (out * g).sum().backward();
  return {out.detach(), q_.grad(), k_.grad(), v_.grad()};
}

}  // namespace

// The gradient checks are kept small (one head, few features): under the sanitizers each costs
// two forward passes per input element.
TEST_CASE("gradcheck fused_attention (window): through the kernel, 16-wide tiles, T = 70") {
  const Tensor q = testing::input({1, 1, 70, 3}, 1), key = testing::input({1, 1, 70, 3}, 2);
  const Tensor v = testing::input({1, 1, 70, 2}, 3);
  const auto check = [](const Tensor& q_, const Tensor& k_, const Tensor& v_,
                        const KernelOptions& options) {
    CAPTURE(options.window);
    CAPTURE(options.causal);
    CAPTURE(options.dropout);
    CHECK(gradcheck([&](Inputs in) { return kernel_attention(in[0], in[1], in[2], options); },
                    {q_, k_, v_}));
  };
  SUBCASE("W = 1, 3, 16 and more than T, and with causal") {
    for (const int64_t window : {1, 3, 16, 100}) check(q, key, v, {.window = window});
    check(q, key, v, {.window = 3, .causal = true});
  }
  SUBCASE("tiles of 32 queries and 16 keys") {
    check(q, key, v, {.window = 20, .query_tile = 32, .key_tile = 16});
  }
  SUBCASE("dropout") { check(q, key, v, {.window = 16, .dropout = 0.3}); }
  SUBCASE("Tq != Tk: fewer keys than queries, and more") {
    check(q, testing::input({1, 1, 40, 3}, 4), testing::input({1, 1, 40, 2}, 5), {.window = 7});
    check(testing::input({1, 1, 40, 3}, 6), key, v, {.window = 7});
  }
  SUBCASE("with key padding: queries whose window holds no real key") {
    const Tensor mask = key_padding({20}, 70);  // queries 30 .. 69 see nothing with W = 11
    check(q, key, v, {.window = 11, .mask = mask});
    check(q, key, v, {.window = 3, .mask = mask, .dropout = 0.2});
  }
}

TEST_CASE("gradcheck fused_attention and fused_attention_packed (window, lower_right)") {
  // Through the ops, with their own 64-wide tiles (T = 70 spans two).
  const Tensor q = testing::input({1, 1, 70, 3}, 1), key = testing::input({1, 1, 70, 3}, 2);
  const Tensor v = testing::input({1, 1, 70, 2}, 3);
  SUBCASE("T = 70: W = 3 and more than T") {
    for (const int64_t window : {3, 100}) {
      CAPTURE(window);
      CHECK(gradcheck(
          [&](Inputs in) { return fused_attention(in[0], in[1], in[2], {.window = window}); },
          {q, key, v}));
    }
  }
  SUBCASE("lower right: 20 new queries after 50 keys, as after a KV cache") {
    const Tensor new_q = testing::input({1, 1, 20, 3}, 8);
    for (const FusedAttentionOptions& options :
         {FusedAttentionOptions{.window = 9, .lower_right = true},
          FusedAttentionOptions{.is_causal = true, .lower_right = true}}) {
      CAPTURE(options.window);
      CHECK(gradcheck([&](Inputs in) { return fused_attention(in[0], in[1], in[2], options); },
                      {new_q, key, v}));
    }
  }
  SUBCASE("packed, with key padding and dropout") {
    const Tensor qkv = testing::input({2, 24, 3, 2, 3}, 7);  // [B, T, 3, H, d]
    CHECK(gradcheck(
        [](Inputs in) {
          return fused_attention_packed(
              in[0], {.mask = key_padding({24, 9}, 24), .window = 5, .dropout_p = 0.25});
        },
        {qkv}));
  }
}

TEST_CASE("window attention: a query whose window holds no allowed key gets zeros, never NaN") {
  // Example 1 has 10 real keys: with W = 4, its queries 13 .. 69 see none.
  const Tensor mask = key_padding({70, 10}, 70);
  const Tensor q = testing::input({2, 2, 70, 6}, 1), key = testing::input({2, 2, 70, 6}, 2);
  const Tensor v = testing::input({2, 2, 70, 5}, 3);
  const Tensor g = testing::input({2, 2, 70, 5}, 4).detach();
  const auto fused = [&](const Tensor& a, const Tensor& b, const Tensor& c) {
    return fused_attention(a, b, c, {.mask = mask, .window = 4});
  };
  const auto tiled = [&](const Tensor& a, const Tensor& b, const Tensor& c) {
    return kernel_attention(a, b, c, {.window = 4, .mask = mask});
  };
  const auto plain = [&](const Tensor& a, const Tensor& b, const Tensor& c) {
    return plain_attention(a, b, c, 4, mask, 1 / std::sqrt(6.0));
  };
  const std::vector<Tensor> results[] = {forward_backward(q, key, v, g, fused),
                                         forward_backward(q, key, v, g, tiled)};
  for (const std::vector<Tensor>& r : results) {
    for (const Tensor& t : r)
      for (const double value : t.to_vector()) REQUIRE(std::isfinite(value));
    const Tensor out = r[0], dq = r[1];
    // Example 1, queries 13 .. 69: nothing seen, zero output and zero dq.
    CHECK(max(abs(narrow(narrow(out, 0, 1, 1), 2, 13, 57))).item() == 0);
    CHECK(max(abs(narrow(narrow(dq, 0, 1, 1), 2, 13, 57))).item() == 0);
    CHECK(max(abs(narrow(narrow(out, 0, 1, 1), 2, 0, 13))).item() > 0);
    // No query sees example 1's padding keys 10 .. 69: zero dk and dv there.
    CHECK(max(abs(narrow(narrow(r[2], 0, 1, 1), 2, 10, 60))).item() == 0);
    CHECK(max(abs(narrow(narrow(r[3], 0, 1, 1), 2, 10, 60))).item() == 0);
  }
  // The fused op agrees with the plain path, fully masked rows included.
  const std::vector<Tensor> reference = forward_backward(q, key, v, g, plain);
  for (std::size_t i = 0; i < 4; ++i) CHECK(relative_gap(results[0][i], reference[i]) <= 1e-12);
}

namespace {

// The kernel against its reference, forward and backward, on [B, H, T, *] inputs.
struct ReferenceCase {
  int64_t queries, keys, window, query_tile, key_tile;
  bool causal, padded;  // padded: the last batch item's keys from keys / 3 on are masked
  double dropout;
  int64_t batch = 2, heads = 2, head_dim = 17, value_dim = 9;
  int64_t query_offset = 0;
};

template <class T>
void check_against_reference(const ReferenceCase& c) {
  CAPTURE(c.queries);
  CAPTURE(c.keys);
  CAPTURE(c.window);
  CAPTURE(c.query_tile);
  CAPTURE(c.key_tile);
  CAPTURE(c.causal);
  CAPTURE(c.padded);
  CAPTURE(c.dropout);
  CAPTURE(c.query_offset);
  const double tolerance = sizeof(T) == 4 ? 2e-5 : 1e-12;
  const DType dtype = dtype_of<T>();
  const int64_t B = c.batch, H = c.heads;
  const Tensor q = random_leaf({B, H, c.queries, c.head_dim}, dtype, 1).detach(),
               key = random_leaf({B, H, c.keys, c.head_dim}, dtype, 2).detach(),
               v = random_leaf({B, H, c.keys, c.value_dim}, dtype, 3).detach(),
               g = random_leaf({B, H, c.queries, c.value_dim}, dtype, 4).detach();
  std::vector<int64_t> lengths(B, c.keys);
  lengths.back() = c.keys / 3;
  const Tensor mask = key_padding(lengths, c.keys);
  const KernelOptions options{.window = c.window,
                              .causal = c.causal,
                              .mask = c.padded ? mask : Tensor(),
                              .dropout = c.dropout,
                              .query_tile = c.query_tile,
                              .key_tile = c.key_tile,
                              .query_offset = c.query_offset};
  const k::AttentionProblem problem = problem_of<T>(q, key, v, options);
  Tensor results[2][5];  // kernel, reference: out, lse, dq, dk, dv
  for (int reference = 0; reference < 2; ++reference) {
    Tensor* r = results[reference];
    r[0] = zeros({B, H, c.queries, c.value_dim}, {.dtype = dtype});
    r[1] = zeros({B, H, c.queries}, {.dtype = dtype});
    r[2] = zeros(q.shape(), {.dtype = dtype});
    r[3] = zeros(key.shape(), {.dtype = dtype});
    r[4] = zeros(v.shape(), {.dtype = dtype});
    if (reference) {
      k::attention_forward_reference<T>(problem, heads_view<const T>(q), heads_view<const T>(key),
                                        heads_view<const T>(v), heads_view<T>(r[0]),
                                        r[1].data<T>());
      k::attention_backward_reference<T>(
          problem, heads_view<const T>(q), heads_view<const T>(key), heads_view<const T>(v),
          heads_view<const T>(g), heads_view<T>(r[2]), heads_view<T>(r[3]), heads_view<T>(r[4]));
    } else {
      k::flash_attention_forward<T>(problem, heads_view<const T>(q), heads_view<const T>(key),
                                    heads_view<const T>(v), heads_view<T>(r[0]), r[1].data<T>());
      k::flash_attention_backward<T>(problem, heads_view<const T>(q), heads_view<const T>(key),
                                     heads_view<const T>(v), heads_view<const T>(r[0]),
                                     r[1].data<T>(), heads_view<const T>(g), heads_view<T>(r[2]),
                                     heads_view<T>(r[3]), heads_view<T>(r[4]));
    }
  }
  // lse is -inf where a query sees nothing, in both.
  const std::vector<double> lse = results[0][1].to_vector(), lse_ref = results[1][1].to_vector();
  for (std::size_t i = 0; i < lse.size(); ++i) {
    CAPTURE(i);
    if (std::isinf(lse_ref[i]))
      CHECK(lse[i] == lse_ref[i]);
    else
      CHECK(std::abs(lse[i] - lse_ref[i]) <= tolerance * (1 + std::abs(lse_ref[i])));
  }
  for (const int i : {0, 2, 3, 4}) {
    CAPTURE(i);
    CHECK(relative_gap(results[0][i], results[1][i]) <= tolerance);
  }
}

}  // namespace

TEST_CASE_TEMPLATE("window attention: the kernel equals its reference", T, float, double) {
  const ReferenceCase cases[] = {
      {70, 70, 1, 16, 16, false, false, 0.0},
      {70, 70, 3, 16, 16, true, false, 0.0},
      {70, 70, 16, 16, 16, false, true, 0.0},
      {70, 70, 17, 32, 16, false, false, 0.1},
      {70, 70, 100, 16, 32, false, true, 0.0},
      {200, 200, 33, 64, 64, false, false, 0.0},
      {70, 45, 9, 16, 16, false, false, 0.0},
      {45, 70, 9, 16, 16, true, true, 0.25},
      {130, 130, 48, 16, 48, false, true, 0.0},
      // aligned at the end (new tokens after a KV cache), and the first queries seeing no key
      {20, 70, 9, 16, 16, false, true, 0.0, 2, 2, 17, 9, 50},
      {33, 70, 0, 16, 16, true, false, 0.1, 2, 2, 17, 9, 37},
      {70, 45, 12, 16, 16, true, true, 0.0, 2, 2, 17, 9, -25},
      // at most 4 queries without dropout: the forward's path without tiles (decoding)
      {1, 70, 0, 16, 16, false, true, 0.0, 2, 3, 17, 9, 69},
      {1, 70, 9, 16, 16, false, true, 0.0, 2, 3, 40, 33, 69},
      {3, 70, 0, 16, 16, true, false, 0.0, 2, 2, 17, 9, 67},
      {4, 45, 5, 16, 16, false, true, 0.0, 2, 2, 16, 16, 41},
      {4, 45, 5, 16, 16, false, true, 0.0, 2, 2, 16, 16, -2},  // queries 0, 1 see no key
      {2, 45, 0, 16, 16, true, false, 0.2, 2, 2, 17, 9, 43},   // dropout: tiles
  };
  for (const ReferenceCase& c : cases) check_against_reference<T>(c);
}

TEST_CASE("window attention: every W from 1 to 40 against the reference, tiles of 16 and 32") {
  // Every way the band's edges can fall on tile edges: an off-by-one in the tiles skipped shows
  // for some W only.
  struct Tiles {
    int64_t queries, keys;
  };
  for (int64_t window = 1; window <= 40; ++window) {
    for (const Tiles tiles : {Tiles{16, 16}, Tiles{16, 32}, Tiles{32, 16}})
      check_against_reference<double>(
          {70, 70, window, tiles.queries, tiles.keys, false, window % 2 == 0, 0.0, 1, 1, 4, 3});
    check_against_reference<double>({70, 50, window, 16, 16, true, false, 0.0, 1, 1, 4, 3});
    check_against_reference<double>({50, 70, window, 16, 16, false, false, 0.0, 1, 1, 4, 3});
    check_against_reference<double>({21, 70, window, 16, 16, false, false, 0.0, 1, 1, 4, 3, 49});
  }
}

TEST_CASE("window attention: fused_attention equals the plain masked path, forward and backward") {
  for (const DType dtype : {kFloat32, kFloat64}) {
    CAPTURE(dtype);
    const double tolerance = dtype == kFloat32 ? 1e-5 : 1e-12;
    for (const int64_t T : {70, 200}) {
      const Tensor q = random_leaf({2, 2, T, 16}, dtype, 1),
                   key = random_leaf({2, 2, T, 16}, dtype, 2);
      const Tensor v = random_leaf({2, 2, T, 8}, dtype, 3);
      const Tensor g = random_leaf({2, 2, T, 8}, dtype, 4).detach();
      const Tensor padding = key_padding({T, T / 2}, T);
      for (const int64_t window : {1, 3, 16, 65, 300}) {
        for (const bool padded : {false, true}) {
          CAPTURE(T);
          CAPTURE(window);
          CAPTURE(padded);
          const Tensor mask = padded ? padding : Tensor();
          const auto fused = [&](const Tensor& a, const Tensor& b, const Tensor& c) {
            return fused_attention(a, b, c, {.mask = mask, .window = window, .scale = 0.6});
          };
          const auto plain = [&](const Tensor& a, const Tensor& b, const Tensor& c) {
            return plain_attention(a, b, c, window, mask);
          };
          const std::vector<Tensor> f = forward_backward(q, key, v, g, fused),
                                    p = forward_backward(q, key, v, g, plain);
          for (std::size_t i = 0; i < 4; ++i) {
            CAPTURE(i);
            CHECK(relative_gap(f[i], p[i]) <= tolerance);
          }
        }
      }
    }
  }
}

TEST_CASE("window attention: W >= T is causal attention bit for bit, W = 1 copies v") {
  const Tensor q = random_leaf({1, 2, 70, 8}, kFloat32, 1),
               key = random_leaf({1, 2, 70, 8}, kFloat32, 2),
               v = random_leaf({1, 2, 70, 8}, kFloat32, 3);
  const Tensor g = random_leaf({1, 2, 70, 8}, kFloat32, 4).detach();
  const auto attention = [](FusedAttentionOptions options) {
    return [options](const Tensor& a, const Tensor& b, const Tensor& c) {
      return fused_attention(a, b, c, options);
    };
  };
  const std::vector<Tensor> causal = forward_backward(q, key, v, g, attention({.is_causal = true}));
  for (const int64_t window : {70, 71, 1000}) {
    const std::vector<Tensor> windowed =
        forward_backward(q, key, v, g, attention({.window = window}));
    for (std::size_t i = 0; i < 4; ++i) CHECK(equal(windowed[i], causal[i]));
  }
  // Each query sees only its own key: one weight of 1 whatever the score, so out = v, dv = g and
  // no gradient reaches q or k (up to rounding: dS = dO·v - dO·out).
  const std::vector<Tensor> one = forward_backward(q, key, v, g, attention({.window = 1}));
  CHECK(relative_gap(one[0], v) <= 1e-6);
  CHECK(max(abs(one[1])).item() <= 1e-5);
  CHECK(max(abs(one[2])).item() <= 1e-5);
  CHECK(relative_gap(one[3], g) <= 1e-6);
}

TEST_CASE("window attention: nn's fused and plain paths agree") {
  manual_seed(3);
  SUBCASE("scaled_dot_product_attention") {
    const Tensor q = random_leaf({2, 2, 90, 16}, kFloat64, 1),
                 key = random_leaf({2, 2, 90, 16}, kFloat64, 2),
                 v = random_leaf({2, 2, 90, 8}, kFloat64, 3);
    const Tensor mask = key_padding({90, 40}, 90);
    for (const int64_t window : {1, 5, 64, 200}) {
      CAPTURE(window);
      const auto fused =
          nn::scaled_dot_product_attention(q, key, v, {.mask = mask, .window = window});
      const auto plain = nn::scaled_dot_product_attention(
          q, key, v, {.mask = mask, .window = window, .need_weights = true});
      CHECK(relative_gap(fused.output, plain.output) <= 1e-12);
      // The weights are zero outside the band.
      const Tensor outside = !(nn::window_mask(90, 90, window) && mask);
      CHECK(max(abs(masked_fill(plain.weights, !outside, 0.0))).item() == 0);
    }
  }
  SUBCASE("MultiHeadAttention, forward and backward") {
    nn::MultiHeadAttention mha(32, 4);
    mha.to(kFloat64);
    Tensor x = random_leaf({2, 100, 32}, kFloat64, 5);
    const Tensor padding = nn::padding_mask({100, 37}, 100);
    std::vector<double> grads[2];
    Tensor outputs[2];
    for (const bool need_weights : {false, true}) {
      x.zero_grad();
      mha.zero_grad();
      const nn::AttentionOutput out =
          mha(x, x, x, {.key_padding_mask = padding, .window = 24, .need_weights = need_weights});
      (out.output * out.output).sum().backward();
      outputs[need_weights] = out.output.detach();
      grads[need_weights] = x.grad().to_vector();
      for (const Tensor& p : mha.parameters()) {
        const std::vector<double> g = p.grad().to_vector();
        grads[need_weights].insert(grads[need_weights].end(), g.begin(), g.end());
      }
    }
    CHECK(relative_gap(outputs[0], outputs[1]) <= 1e-12);
    REQUIRE(grads[0].size() == grads[1].size());
    double gap = 0, largest = 1;
    for (std::size_t i = 0; i < grads[0].size(); ++i) {
      gap = std::max(gap, std::abs(grads[0][i] - grads[1][i]));
      largest = std::max(largest, std::abs(grads[1][i]));
    }
    CHECK(gap / largest <= 1e-12);
  }
}

TEST_CASE("window attention: the same bits with 1 and 2 threads") {
  // Large enough that the kernel shares it among 2 threads.
  const Tensor q = random_leaf({2, 4, 600, 32}, kFloat32, 1),
               key = random_leaf({2, 4, 600, 32}, kFloat32, 2),
               v = random_leaf({2, 4, 600, 32}, kFloat32, 3);
  const Tensor g = random_leaf({2, 4, 600, 32}, kFloat32, 4).detach();
  const Tensor mask = key_padding({600, 333}, 600);
  const auto windowed = [&](const Tensor& a, const Tensor& b, const Tensor& c) {
    return fused_attention(a, b, c,
                           {.mask = mask, .window = 100, .dropout_p = 0.1, .dropout_seed = 5});
  };
  const int threads = tapegrad::num_threads();
  tapegrad::set_num_threads(1);
  const std::vector<Tensor> one = forward_backward(q, key, v, g, windowed);
  tapegrad::set_num_threads(2);
  const std::vector<Tensor> two = forward_backward(q, key, v, g, windowed);
  tapegrad::set_num_threads(threads);
  for (std::size_t i = 0; i < 4; ++i) CHECK(equal(one[i], two[i]));
}

TEST_CASE("window attention: a negative window is an error naming the op and the value") {
  const Tensor q = zeros({1, 2, 4, 8}), key = zeros({1, 2, 4, 8}), v = zeros({1, 2, 4, 8});
  CHECK_THROWS_WITH_AS(fused_attention(q, key, v, {.window = -1}),
                       doctest::Contains("fused_attention: window -1 is negative"), Error);
  CHECK_THROWS_WITH_AS(fused_attention_packed(zeros({1, 4, 3, 2, 8}), {.window = -3}),
                       doctest::Contains("fused_attention_packed: window -3 is negative"), Error);
  CHECK_THROWS_WITH_AS(nn::scaled_dot_product_attention(q, key, v, {.window = -2}),
                       doctest::Contains("nn.scaled_dot_product_attention: window -2 is negative"),
                       Error);
  CHECK_THROWS_WITH_AS(
      nn::scaled_dot_product_attention(q, key, v, {.window = -2, .need_weights = true}),
      doctest::Contains("nn.scaled_dot_product_attention: window -2 is negative"), Error);
  nn::MultiHeadAttention mha(16, 2);
  const Tensor x = zeros({1, 4, 16});
  for (const bool need_weights : {false, true})
    CHECK_THROWS_WITH_AS(mha(x, x, x, {.window = -5, .need_weights = need_weights}),
                         doctest::Contains("nn.MultiHeadAttention: window -5 is negative"), Error);
  CHECK_THROWS_WITH_AS(nn::window_mask(4, 4, 0),
                       doctest::Contains("window_mask: window 0 must be at least 1"), Error);
  float one = 1, out = 0, lse = 0;
  const k::HeadsView<const float> in{&one, 0, 0, 0, 0};
  const k::AttentionProblem problem{
      .queries = 1, .keys = 1, .head_dim = 1, .value_dim = 1, .window = -7};
  CHECK_THROWS_WITH_AS(
      k::flash_attention_forward<float>(problem, in, in, in, {&out, 0, 0, 0, 0}, &lse),
      doctest::Contains("flash_attention: window -7 is negative"), Error);
}

TEST_CASE("window attention: window_mask is the band query - W < key <= query") {
  const Tensor mask = nn::window_mask(4, 5, 2);
  CHECK(mask.dtype() == kBool);
  testing::check_values(mask.to(kFloat64), {1, 0, 0, 0, 0,  //
                                            1, 1, 0, 0, 0,  //
                                            0, 1, 1, 0, 0,  //
                                            0, 0, 1, 1, 0},
                        0);
  CHECK(equal(nn::window_mask(6, 6, 6), nn::causal_mask(6)));
}
