// The attention stack: masks, scaled_dot_product_attention, MultiHeadAttention, FeedForward,
// TransformerEncoderLayer/Encoder and masked_mean. Every module has a `gradcheck nn.<Module>` case
// in float64 over its inputs and all its parameters, then come forward values, the properties masks
// promise (padding and future tokens change nothing), PyTorch's parameter names, and one
// CHECK_THROWS_WITH_AS per error path.
//
// Adding a module: module.to(kFloat64), then gradcheck(fn, with_parameters(module, {inputs})) with
// dropout 0 or in eval mode.
#include <doctest/doctest.h>

#include <cmath>

#include "nn/nn.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;
using namespace tapegrad::nn;

namespace {

using Inputs = const std::vector<Tensor>&;

using testing::with_parameters;

// The output and the weights (if any were asked for), flattened into one vector, so one gradcheck
// covers both.
Tensor output_and_weights(const AttentionOutput& attention) {
  if (!attention.weights.defined()) return attention.output;
  return cat({reshape(attention.output, {-1}), reshape(attention.weights, {-1})});
}

Tensor bools(const std::vector<int64_t>& values, const Shape& shape) {
  return from_vector(values, shape).to(kBool);
}

bool all_finite(const Tensor& t) {
  for (double v : t.to_vector())
    if (!std::isfinite(v)) return false;
  return true;
}

// The values of x at [b, t, :] for a [B, T, C] tensor.
std::vector<double> token(const Tensor& x, int64_t b, int64_t t) {
  return narrow(narrow(x, 0, b, 1), 1, t, 1).contiguous().to_vector();
}

// x with the token [b, t, :] replaced by other values.
Tensor perturbed(const Tensor& x, int64_t b, int64_t t) {
  Tensor copy = x.detach().clone();
  copy_into(narrow(narrow(copy, 0, b, 1), 1, t, 1),
            full({1, 1, x.size(2)}, 7.5, {.dtype = x.dtype()}));
  return copy;
}

}  // namespace

// ---- masks ----

TEST_CASE("causal_mask and padding_mask values, combined with &&") {
  const Tensor causal = causal_mask(3);
  CHECK(causal.dtype() == kBool);
  CHECK(causal.shape() == Shape{3, 3});
  testing::check_values(causal, {1, 0, 0, 1, 1, 0, 1, 1, 1});
  testing::check_values(causal_mask(2, 3), {1, 0, 0, 1, 1, 0});

  const Tensor padding = padding_mask({2, 3}, 3);
  CHECK(padding.dtype() == kBool);
  CHECK(padding.shape() == Shape{2, 3});
  testing::check_values(padding, {1, 1, 0, 1, 1, 1});
  testing::check_values(padding_mask(from_vector(std::vector<int64_t>{0, 1}, {2}), 2),
                        {0, 0, 1, 0});

  // [T, T] && [B, 1, T] -> [B, T, T]: query t of example b may see key s <= t when s is real.
  const Tensor both = causal && padding.unsqueeze(1);
  CHECK(both.shape() == Shape{2, 3, 3});
  testing::check_values(both, {1, 0, 0, 1, 1, 0, 1, 1, 0, /**/ 1, 0, 0, 1, 1, 0, 1, 1, 1});
}

TEST_CASE("mask helpers reject bad arguments and take empty lengths") {
  CHECK_THROWS_WITH_AS(padding_mask(tensor({2.0, 3.0}), 3), doctest::Contains("int64 tensor [B]"),
                       Error);
  CHECK_THROWS_WITH_AS(causal_mask(-1), doctest::Contains("must not be negative"), Error);
  CHECK_THROWS_WITH_AS(causal_mask(2, -1),
                       doctest::Contains("causal_mask: lengths 2 and -1 must not be negative"),
                       Error);
  CHECK_THROWS_WITH_AS(causal_mask(-1, 2),
                       doctest::Contains("causal_mask: lengths -1 and 2 must not be negative"),
                       Error);
  CHECK_THROWS_WITH_AS(window_mask(2, -1, 1),
                       doctest::Contains("window_mask: lengths 2 and -1 must not be negative"),
                       Error);
  CHECK_THROWS_WITH_AS(window_mask(-1, 2, 1),
                       doctest::Contains("window_mask: lengths -1 and 2 must not be negative"),
                       Error);
  CHECK_THROWS_WITH_AS(padding_mask({2}, -1),
                       doctest::Contains("padding_mask: length -1 must not be negative"), Error);
  // empty lengths are fine: [0, 0], [0, 3], [3, 0] and [2, 0]
  CHECK(causal_mask(0).shape() == Shape{0, 0});
  CHECK(window_mask(0, 3, 1).shape() == Shape{0, 3});
  CHECK(window_mask(3, 0, 1).shape() == Shape{3, 0});
  CHECK(padding_mask({0, 0}, 0).shape() == Shape{2, 0});
}

// ---- scaled_dot_product_attention ----

TEST_CASE("scaled_dot_product_attention: the seed example") {
  const Tensor q = tensor({{1, 0}});
  const Tensor k = tensor({{1, 0}, {-10, 1}});
  const Tensor v = tensor({{10, 20}, {30, 40}});
  const AttentionOutput attention = scaled_dot_product_attention(q, k, v, {.need_weights = true});
  CHECK(attention.output.shape() == Shape{1, 2});
  testing::check_values(attention.output, {10.008, 20.008}, 1e-3);
  testing::check_values(attention.weights, {0.99958, 0.00042}, 1e-5);

  // Scores divided by sqrt(d) = sqrt(2): with scale 1 the softmax saturates further.
  const AttentionOutput unscaled =
      scaled_dot_product_attention(q, k, v, {.scale = 1.0, .need_weights = true});
  testing::check_values(unscaled.weights, {1 - 1.67e-5, 1.67e-5}, 1e-6);
  CHECK(attention.weights.defined());
  CHECK_FALSE(scaled_dot_product_attention(q, k, v).weights.defined());
}

TEST_CASE("scaled_dot_product_attention: the output keeps the inputs' leading dims, fused or not") {
  // The fused kernel works on [B, H, T, d]: none, one and three leading dims are viewed or folded
  // into two and must come back as they were; k and v broadcast against q's [2, 1, 3].
  for (const Shape& lead : {Shape{}, Shape{3}, Shape{2, 3}, Shape{2, 1, 3}}) {
    INFO("leading dims ", fmt::format("{}", lead));
    const auto with_lead = [&](Shape shape, int64_t rows, int64_t cols) {
      shape.push_back(rows);
      shape.push_back(cols);
      return shape;
    };
    const Shape kv_lead = lead.size() == 3 ? Shape{4, 3} : lead;
    const Tensor q = testing::input(with_lead(lead, 5, 4), 1);
    const Tensor k = testing::input(with_lead(kv_lead, 6, 4), 2);
    const Tensor v = testing::input(with_lead(kv_lead, 6, 2), 3);
    const Shape out_lead = lead.size() == 3 ? Shape{2, 4, 3} : lead;
    const Tensor fused = scaled_dot_product_attention(q, k, v, {.is_causal = true}).output;
    const Tensor plain =
        scaled_dot_product_attention(q, k, v, {.is_causal = true, .need_weights = true}).output;
    CHECK(fused.shape() == with_lead(out_lead, 5, 2));
    CHECK(plain.shape() == with_lead(out_lead, 5, 2));
    testing::check_values(fused, plain.to_vector(), 1e-12);
  }
}

TEST_CASE("gradcheck scaled_dot_product_attention") {
  const Tensor q = testing::input({2, 3, 4}, 1);
  const Tensor k = testing::input({2, 4, 4}, 2);
  const Tensor v = testing::input({2, 4, 3}, 3);
  const Tensor q_t = testing::transposed_input({2, 3, 4}, 4);
  const Tensor mask = bools({1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1}, {3, 4});

  SUBCASE("no mask") {
    CHECK(gradcheck(
        [](Inputs in) { return scaled_dot_product_attention(in[0], in[1], in[2]).output; },
        {q, k, v}));
  }
  SUBCASE("non-contiguous query") {
    CHECK(gradcheck(
        [](Inputs in) { return scaled_dot_product_attention(in[0], in[1], in[2]).output; },
        {q_t, k, v}));
  }
  SUBCASE("mask, with the weights") {
    CHECK(gradcheck(
        [&](Inputs in) {
          return output_and_weights(scaled_dot_product_attention(
              in[0], in[1], in[2], {.mask = mask, .need_weights = true}));
        },
        {q, k, v}));
  }
  SUBCASE("mask, causal, a fully masked row, fused") {
    const Tensor row_blind = bools({1, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1}, {3, 4});
    CHECK(gradcheck(
        [&](Inputs in) {
          return scaled_dot_product_attention(in[0], in[1], in[2],
                                              {.mask = row_blind, .is_causal = true})
              .output;
        },
        {q, k, v}));
  }
  SUBCASE("broadcast leading dims, fused") {
    const Tensor q_heads = testing::input({2, 2, 3, 4}, 5), k_shared = testing::input({4, 4}, 6);
    const Tensor v_3d = testing::input({2, 1, 4, 3}, 7);
    CHECK(gradcheck(
        [&](Inputs in) { return scaled_dot_product_attention(in[0], in[1], in[2]).output; },
        {q_heads, k_shared, v_3d}));
    const Tensor q_5d = testing::input({2, 1, 2, 3, 4}, 8);  // more than two leading dims
    CHECK(gradcheck(
        [&](Inputs in) {
          return scaled_dot_product_attention(in[0], in[1], in[2], {.mask = mask}).output;
        },
        {q_5d, k, v}));
  }
  SUBCASE("causal, with a per-batch mask and a scale") {
    const Tensor per_batch = bools({1, 1, 1, 1, 0, 1, 1, 1}, {2, 1, 4});
    CHECK(gradcheck(
        [&](Inputs in) {
          return output_and_weights(scaled_dot_product_attention(
              in[0], in[1], in[2],
              {.mask = per_batch, .is_causal = true, .scale = 0.3, .need_weights = true}));
        },
        {q, k, v}));
  }
  SUBCASE("a fully masked query row") {
    const Tensor row_blind = bools({1, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1}, {3, 4});
    CHECK(gradcheck(
        [&](Inputs in) {
          return output_and_weights(scaled_dot_product_attention(
              in[0], in[1], in[2], {.mask = row_blind, .need_weights = true}));
        },
        {q, k, v}));
  }
}

TEST_CASE(
    "scaled_dot_product_attention: a fully masked query row gives zeros, "
    "never NaN") {
  const Tensor q = testing::input({1, 2, 3}, 1), k = testing::input({1, 3, 3}, 2);
  const Tensor v = testing::input({1, 3, 2}, 3);
  const Tensor mask = bools({1, 0, 1, 0, 0, 0}, {2, 3});  // query 1 may attend to nothing
  const AttentionOutput attention =
      scaled_dot_product_attention(q, k, v, {.mask = mask, .need_weights = true});
  testing::check_values(narrow(attention.output, 1, 1, 1), {0, 0}, 0);
  testing::check_values(narrow(attention.weights, 1, 1, 1), {0, 0, 0}, 0);
  testing::check_values(narrow(attention.weights, 1, 0, 1).sum(), {1}, 1e-12);
  attention.output.sum().backward();
  CHECK(all_finite(q.grad()));
  CHECK(all_finite(k.grad()));
  CHECK(all_finite(v.grad()));
  testing::check_values(narrow(q.grad(), 1, 1, 1), {0, 0, 0}, 0);
  CHECK(std::abs(narrow(q.grad(), 1, 0, 1).sum().item()) > 0);
  // Only keys 0 and 2 were seen, by query 0.
  testing::check_values(narrow(v.grad(), 1, 1, 1), {0, 0}, 0);
}

TEST_CASE(
    "scaled_dot_product_attention: dropout on the weights while training "
    "only") {
  const Tensor q = testing::input({2, 3}, 1), k = testing::input({4, 3}, 2);
  const Tensor v = testing::input({4, 2}, 3);
  const Tensor dropped = scaled_dot_product_attention(q, k, v, {.dropout_p = 1.0}).output;
  testing::check_values(dropped, {0, 0, 0, 0}, 0);
  const Tensor evaluated =
      scaled_dot_product_attention(q, k, v, {.dropout_p = 1.0, .training = false}).output;
  testing::check_values(evaluated, scaled_dot_product_attention(q, k, v).output.to_vector(), 0);
}

TEST_CASE("scaled_dot_product_attention: errors name the shapes") {
  const Tensor q = zeros({2, 3, 4}), k = zeros({2, 5, 4}), v = zeros({2, 5, 6});
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, zeros({2, 5, 3}), v),
                       doctest::Contains("q [2, 3, 4] and k [2, 5, 3] last dims differ"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, zeros({2, 4, 6})),
                       doctest::Contains("different numbers of keys"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, v, {.mask = causal_mask(3)}),
                       doctest::Contains("mask of shape [3, 3] does not broadcast to the scores' "
                                         "shape [2, 3, 5]"),
                       Error);
  CHECK_THROWS_WITH_AS(
      scaled_dot_product_attention(q, k, v, {.mask = ones({3, 3, 5}, {.dtype = kBool})}),
      doctest::Contains(
          "mask of shape [3, 3, 5] does not broadcast to the scores' shape [2, 3, 5]"),
      Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, v, {.mask = ones({3, 5})}),
                       doctest::Contains("the mask must be bool"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(zeros({4}), k, v),
                       doctest::Contains("need 2 dims at least"), Error);
}

// ---- ScaledDotProductAttention ----

TEST_CASE("gradcheck nn.ScaledDotProductAttention") {
  ScaledDotProductAttention attention(0.5);
  attention.to(kFloat64);
  attention.eval();
  const Tensor q = testing::input({2, 2, 3, 4}, 1), k = testing::input({2, 2, 4, 4}, 2);
  const Tensor v = testing::input({2, 2, 4, 2}, 3);
  const Tensor keys = padding_mask({3, 4}, 4).view({2, 1, 1, 4});
  CHECK(gradcheck([&](Inputs in) { return attention(in[0], in[1], in[2]).output; },
                  with_parameters(attention, {q, k, v})));
  CHECK(gradcheck(
      [&](Inputs in) {
        return output_and_weights(attention(
            in[0], in[1], in[2], {.mask = keys, .is_causal = true, .need_weights = true}));
      },
      with_parameters(attention, {q, k, v})));
}

TEST_CASE("nn.ScaledDotProductAttention: dropout follows the training flag") {
  ScaledDotProductAttention attention(1.0);
  const Tensor q = testing::input({2, 3}, 1), k = testing::input({4, 3}, 2);
  const Tensor v = testing::input({4, 2}, 3);
  testing::check_values(attention(q, k, v).output, {0, 0, 0, 0}, 0);
  attention.eval();
  testing::check_values(attention(q, k, v).output,
                        scaled_dot_product_attention(q, k, v).output.to_vector(), 0);
  CHECK_THROWS_WITH_AS(ScaledDotProductAttention(1.5), doctest::Contains("not a probability"),
                       Error);
  CHECK_THROWS_WITH_AS(ScaledDotProductAttention(-0.1), doctest::Contains("not a probability"),
                       Error);
  ScaledDotProductAttention no_dropout;  // p = 0, the default: training changes nothing
  testing::check_values(no_dropout(q, k, v).output,
                        scaled_dot_product_attention(q, k, v).output.to_vector(), 0);
}

// ---- MultiHeadAttention ----

// gradcheck of forward(inputs, need_weights), its output and weights, against the inputs and mha's
// parameters in float64, on both paths: with the weights (the plain path) and without (the fused
// kernel).
template <class Forward>
void gradcheck_both_paths(MultiHeadAttention& mha, const std::vector<Tensor>& inputs,
                          const Forward& forward) {
  mha.to(kFloat64);
  for (const bool need_weights : {true, false}) {
    CAPTURE(need_weights);
    CHECK(gradcheck([&](Inputs in) { return output_and_weights(forward(in, need_weights)); },
                    with_parameters(mha, inputs)));
  }
}

TEST_CASE("gradcheck nn.MultiHeadAttention") {
  const Tensor x = testing::input({2, 3, 4}, 1);

  SUBCASE("self-attention, packed QKV, key padding, averaged weights") {
    MultiHeadAttention mha(4, 2);
    const Tensor lengths_3_2 = padding_mask({3, 2}, 3);
    gradcheck_both_paths(mha, {x}, [&](Inputs in, bool need_weights) {
      return mha(in[0], in[0], in[0],
                 {.key_padding_mask = lengths_3_2, .need_weights = need_weights});
    });
  }
  SUBCASE("causal attn_mask, per-head weights, no bias") {
    MultiHeadAttention mha(4, 2, {.bias = false});
    gradcheck_both_paths(mha, {x}, [&](Inputs in, bool need_weights) {
      return mha(in[0], in[0], in[0],
                 {.attn_mask = causal_mask(3),
                  .need_weights = need_weights,
                  .average_attn_weights = false});
    });
  }
  SUBCASE("cross-attention with packed weights and a [B * H, Tq, Tk] mask") {
    MultiHeadAttention mha(4, 2);
    const Tensor memory = testing::input({2, 2, 4}, 2);
    const Tensor mask = bools({1,      0, 1, 1, 0, 1, /**/ 1, 1, 0, 1, 1, 1, /**/ 1, 0, 1, 0, 1, 0,
                               /**/ 0, 1, 1, 1, 0, 1},
                              {4, 3, 2});
    gradcheck_both_paths(mha, {x, memory}, [&](Inputs in, bool need_weights) {
      return mha(in[0], in[1], in[1], {.attn_mask = mask, .need_weights = need_weights});
    });
  }
  SUBCASE("kdim != vdim: separate projections") {
    MultiHeadAttention mha(4, 2, {.kdim = 3, .vdim = 5});
    const Tensor key = testing::input({2, 2, 3}, 2), value = testing::input({2, 2, 5}, 3);
    gradcheck_both_paths(mha, {x, key, value}, [&](Inputs in, bool need_weights) {
      return mha(in[0], in[1], in[2], {.is_causal = true, .need_weights = need_weights});
    });
  }
  SUBCASE("a residual added by the output projection") {
    MultiHeadAttention mha(4, 2);
    const Tensor residual = testing::input({2, 3, 4}, 4);
    gradcheck_both_paths(mha, {x, residual}, [&](Inputs in, bool need_weights) {
      return mha(in[0], in[0], in[0], {.need_weights = need_weights, .residual = in[1]});
    });
  }
  SUBCASE("a gate per head, [H] and [B, H], differentiated too") {
    MultiHeadAttention mha(4, 2);
    const Tensor per_head = testing::input({2}, 5), per_example = testing::input({2, 2}, 6);
    for (const Tensor& gate : {per_head, per_example}) {
      CAPTURE(gate.shape());
      gradcheck_both_paths(mha, {x, gate}, [&](Inputs in, bool need_weights) {
        return mha(in[0], in[0], in[0], {.need_weights = need_weights, .head_mask = in[1]});
      });
    }
  }
  SUBCASE("a fully masked example") {
    MultiHeadAttention mha(4, 2);
    const Tensor none_real = padding_mask({3, 0}, 3);
    gradcheck_both_paths(mha, {x}, [&](Inputs in, bool need_weights) {
      return mha(in[0], in[0], in[0],
                 {.key_padding_mask = none_real, .need_weights = need_weights});
    });
  }
}

TEST_CASE("nn.MultiHeadAttention: a head gate of 0 removes the head, 1 changes nothing") {
  manual_seed(4);
  const Tensor x = randn({2, 5, 8});
  MultiHeadAttention mha(8, 2);
  const Tensor plain = mha(x, x, x, {.need_weights = false}).output;
  const Tensor ones = mha(x, x, x, {.need_weights = false, .head_mask = full({2}, 1.0)}).output;
  CHECK(equal(ones, plain));
  // Head 1 gated off: the same output as zeroing its columns (4..7) of out_proj.
  const Tensor gated =
      mha(x, x, x,
          {.need_weights = false, .head_mask = from_vector(std::vector<double>{1.0, 0.0}, {2})})
          .output;
  float* out_proj = mha.out_proj.weight.data<float>();  // [8, 8], contiguous
  for (int64_t row = 0; row < 8; ++row) std::fill_n(out_proj + row * 8 + 4, 4, 0.0f);
  CHECK(max(abs(gated - mha(x, x, x, {.need_weights = false}).output)).item() <= 1e-6);
  CHECK_THROWS_WITH_AS(mha(x, x, x, {.head_mask = full({3}, 1.0)}),
                       doctest::Contains("head_mask float32 of shape [3] is not [num_heads] = [2]"),
                       Error);
}

TEST_CASE("nn.MultiHeadAttention.prune_heads: the heads left compute what they did") {
  // Pruning head 1 of 3 gives the output of the whole module with head 1 gated off, on both
  // paths, packed or not; the projections shrink to the 2 heads left.
  for (const bool packed : {true, false}) {
    CAPTURE(packed);
    manual_seed(5);
    const Tensor x = randn({2, 4, 6}, {.dtype = kFloat64});
    MultiHeadAttention mha(
        6, 3,
        packed ? MultiHeadAttentionOptions{} : MultiHeadAttentionOptions{.kdim = 6, .vdim = 5});
    mha.to(kFloat64);
    const Tensor value = packed ? x : randn({2, 4, 5}, {.dtype = kFloat64});
    const Tensor gate = from_vector(std::vector<double>{1, 0, 1}, {3}, {.dtype = kFloat64});
    std::vector<Tensor> gated;
    for (const bool need_weights : {true, false})
      gated.push_back(
          mha(x, x, value, {.need_weights = need_weights, .head_mask = gate}).output.detach());
    mha.prune_heads({1});
    CHECK(mha.num_heads == 2);
    CHECK(mha.inner_dim() == 4);
    CHECK(mha.out_proj.weight.shape() == Shape{6, 4});
    CHECK((packed ? mha.in_proj_weight : mha.v_proj_weight).shape() ==
          (packed ? Shape{12, 6} : Shape{4, 5}));
    for (const bool need_weights : {true, false}) {
      CAPTURE(need_weights);
      const Tensor pruned = mha(x, x, value, {.need_weights = need_weights}).output;
      CHECK(max(abs(pruned - gated[need_weights ? 0 : 1])).item() <= 1e-14);
    }
    CHECK(mha.in_proj_bias.requires_grad());
  }
}

TEST_CASE("gradcheck nn.MultiHeadAttention, heads pruned") {
  MultiHeadAttention mha(6, 3);
  mha.prune_heads({0, 2});
  gradcheck_both_paths(mha, {testing::input({2, 3, 6}, 1)}, [&](Inputs in, bool need_weights) {
    return mha(in[0], in[0], in[0], {.is_causal = true, .need_weights = need_weights});
  });
}

TEST_CASE("nn.MultiHeadAttention.prune_heads: bad heads are errors") {
  MultiHeadAttention mha(6, 3);
  CHECK_THROWS_WITH_AS(mha.prune_heads({1, 3}),
                       doctest::Contains("heads [1, 3] are not all in 0..2"), Error);
  CHECK_THROWS_WITH_AS(mha.prune_heads({0, 1, 2, 1}),
                       doctest::Contains("pruning heads [0, 1, 2] would leave none of 3"), Error);
  mha.prune_heads({});
  CHECK(mha.num_heads == 3);
}

TEST_CASE("nn.MultiHeadAttention: the fused path gives the plain path's output") {
  manual_seed(3);
  const Tensor x = randn({2, 70, 32}), memory = randn({2, 50, 32});
  const Tensor lengths = padding_mask({70, 41}, 70);
  MultiHeadAttention mha(32, 4);
  for (const bool training : {true, false}) {  // dropout 0: training changes nothing
    CAPTURE(training);
    mha.train(training);
    const auto gap = [&](const Tensor& query, const Tensor& key,
                         MultiHeadAttentionForwardOptions options) {
      const Tensor plain = mha(query, key, key, options).output;
      options.need_weights = false;
      return max(abs(mha(query, key, key, options).output - plain)).item();
    };
    CHECK(gap(x, x, {}) < 1e-5);
    CHECK(gap(x, x, {.key_padding_mask = lengths, .is_causal = true}) < 1e-5);
    CHECK(gap(x, x, {.attn_mask = causal_mask(70)}) < 1e-5);
    CHECK(gap(x, memory, {.key_padding_mask = padding_mask({50, 7}, 50)}) < 1e-5);
  }
}

TEST_CASE("nn.MultiHeadAttention: a residual joins the output, on the fused and the plain path") {
  manual_seed(4);
  const Tensor x = randn({2, 5, 8}), memory = randn({2, 3, 8}), r = randn({2, 5, 8});
  MultiHeadAttention mha(8, 2);
  for (const bool need_weights : {false, true}) {
    CAPTURE(need_weights);
    for (const Tensor& key : {x, memory}) {
      const Tensor plain = mha(x, key, key, {.need_weights = need_weights}).output;
      const AttentionOutput with_residual =
          mha(x, key, key, {.need_weights = need_weights, .residual = r});
      CHECK(allclose(with_residual.output, plain + r, 1e-6, 1e-6));
      CHECK(with_residual.weights.defined() == need_weights);
    }
  }
  CHECK_THROWS_WITH_AS(
      mha(x, x, x, {.residual = randn({2, 5, 4})}),
      doctest::Contains("nn.MultiHeadAttention: residual of shape [2, 5, 4] is not [B, Tq, "
                        "embed_dim] = [2, 5, 8]"),
      Error);
}

TEST_CASE("nn.MultiHeadAttention: fused dropout, one draw of the default generator per call") {
  MultiHeadAttention mha(8, 2, {.dropout = 0.3});
  const Tensor x = randn({2, 5, 8});
  const auto run = [&](uint64_t seed) {
    manual_seed(seed);
    return mha(x, x, x, {.need_weights = false}).output.to_vector();
  };
  CHECK(run(5) == run(5));
  CHECK(run(5) != run(6));
  manual_seed(5);
  mha(x, x, x, {.need_weights = false});
  const uint64_t after_call = default_generator().next_u64();
  manual_seed(5);
  default_generator().next_u64();  // the call's one draw
  CHECK(after_call == default_generator().next_u64());
  mha.eval();
  CHECK(run(5) != std::vector<double>(80, 0.0));
  CHECK(run(5) == run(6));
  // In eval mode the call draws nothing.
  manual_seed(5);
  mha(x, x, x, {.need_weights = false});
  const uint64_t after_eval_call = default_generator().next_u64();
  manual_seed(5);
  CHECK(after_eval_call == default_generator().next_u64());
}

TEST_CASE("nn.MultiHeadAttention: the seed trace, 6 token ids to [1, 6, 64]") {
  const Tensor ids = from_vector(std::vector<int64_t>{3, 1, 4, 1, 5, 9}, {1, 6});
  const Tensor table = randn({10, 64});  // [vocab, 64]
  const Tensor x = embedding(table, ids);
  CHECK(x.shape() == Shape{1, 6, 64});

  MultiHeadAttention mha(64, 4);
  const AttentionOutput per_head = mha(x, x, x, {.average_attn_weights = false});
  CHECK(per_head.output.shape() == Shape{1, 6, 64});
  CHECK(per_head.weights.shape() == Shape{1, 4, 6, 6});
  testing::check_values(sum(per_head.weights, {-1}), std::vector<double>(24, 1.0), 1e-5);

  const AttentionOutput averaged = mha(x, x, x);
  CHECK(averaged.weights.shape() == Shape{1, 6, 6});
  testing::check_values(averaged.weights, mean(per_head.weights, {1}).to_vector(), 1e-6);
  testing::check_values(averaged.output, per_head.output.to_vector(), 1e-6);
  CHECK_FALSE(mha(x, x, x, {.need_weights = false}).weights.defined());
}

TEST_CASE(
    "nn.MultiHeadAttention with identity projections is per-head "
    "attention on slices") {
  MultiHeadAttention mha(4, 2);
  mha.to(kFloat64);
  copy_into(mha.in_proj_weight, cat({eye(4), eye(4), eye(4)}, 0));
  copy_into(mha.out_proj.weight, eye(4));
  copy_into(mha.in_proj_bias, zeros({12}));
  const Tensor x = testing::input({1, 3, 4}, 5);
  const Tensor y = mha(x, x, x).output;  // [1, 3, 4]

  std::vector<Tensor> heads;
  for (int64_t h = 0; h < 2; ++h) {
    const Tensor slice = narrow(x, -1, 2 * h, 2);  // [1, 3, 2]: head h's features
    heads.push_back(scaled_dot_product_attention(slice, slice, slice).output);
  }
  testing::check_values(y, cat(heads, -1).to_vector(), 1e-12);
}

TEST_CASE("nn.MultiHeadAttention follows PyTorch's layout of in_proj_weight and in_proj_bias") {
  MultiHeadAttention mha(4, 2);
  mha.to(kFloat64);
  copy_into(mha.in_proj_bias, randn({12}));
  copy_into(mha.out_proj.bias, randn({4}));
  const Tensor x = testing::input({2, 3, 4}, 1), memory = testing::input({2, 2, 4}, 2);

  // Rows [0, E) of the packed weight project queries, [E, 2E) keys, [2E, 3E) values.
  const auto by_hand = [&](const Tensor& query, const Tensor& key_value) {
    const auto project = [&](const Tensor& input, int64_t i) {
      return matmul(input, narrow(mha.in_proj_weight, 0, 4 * i, 4).transpose(0, 1)) +
             narrow(mha.in_proj_bias, 0, 4 * i, 4);
    };
    const Tensor q = project(query, 0), k = project(key_value, 1), v = project(key_value, 2);
    std::vector<Tensor> heads;
    for (int64_t h = 0; h < 2; ++h)
      heads.push_back(scaled_dot_product_attention(narrow(q, -1, 2 * h, 2), narrow(k, -1, 2 * h, 2),
                                                   narrow(v, -1, 2 * h, 2))
                          .output);
    return mha.out_proj(cat(heads, -1));
  };
  // Self-attention takes the one-GEMM path, cross-attention the three projections.
  testing::check_values(mha(x, x, x).output, by_hand(x, x).to_vector(), 1e-12);
  testing::check_values(mha(x, memory, memory).output, by_hand(x, memory).to_vector(), 1e-12);
}

TEST_CASE("nn.MultiHeadAttention: padded keys do not change the real positions") {
  MultiHeadAttention mha(4, 2);
  const Tensor x = testing::input({2, 3, 4}, 1).detach().to(kFloat32);
  const Tensor x_changed = perturbed(x, 1, 2);  // example 1's padding token
  const Tensor mask = padding_mask({3, 2}, 3);
  const Tensor y = mha(x, x, x, {.key_padding_mask = mask}).output;
  const Tensor y_changed = mha(x_changed, x_changed, x_changed, {.key_padding_mask = mask}).output;
  for (int64_t t = 0; t < 3; ++t) CHECK(token(y, 0, t) == token(y_changed, 0, t));
  for (int64_t t = 0; t < 2; ++t) CHECK(token(y, 1, t) == token(y_changed, 1, t));
  // Without the mask the same change reaches them.
  CHECK(token(mha(x, x, x).output, 1, 0) !=
        token(mha(x_changed, x_changed, x_changed).output, 1, 0));
}

TEST_CASE("nn.MultiHeadAttention: causal output at t ignores later tokens") {
  MultiHeadAttention mha(4, 2);
  const Tensor x = testing::input({1, 3, 4}, 1).detach().to(kFloat32);
  const Tensor x_changed = perturbed(x, 0, 2);
  const Tensor y = mha(x, x, x, {.is_causal = true}).output;
  const Tensor y_changed = mha(x_changed, x_changed, x_changed, {.is_causal = true}).output;
  CHECK(token(y, 0, 0) == token(y_changed, 0, 0));
  CHECK(token(y, 0, 1) == token(y_changed, 0, 1));
  CHECK(token(y, 0, 2) != token(y_changed, 0, 2));
  const Tensor y_mask = mha(x, x, x, {.attn_mask = causal_mask(3)}).output;
  testing::check_values(y_mask, y.to_vector(), 0);
  // With a key_padding_mask too, a key must be allowed by both.
  const Tensor padding = padding_mask({2}, 3);
  testing::check_values(
      mha(x, x, x, {.key_padding_mask = padding, .attn_mask = causal_mask(3)}).output,
      mha(x, x, x, {.key_padding_mask = padding, .is_causal = true}).output.to_vector(), 1e-6);
}

TEST_CASE("nn.MultiHeadAttention: PyTorch's parameter names and shapes") {
  MultiHeadAttention packed(8, 2);
  CHECK(testing::parameter_names(packed) ==
        std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight",
                                 "out_proj.bias"});
  CHECK(packed.in_proj_weight.shape() == Shape{24, 8});
  CHECK(packed.in_proj_bias.shape() == Shape{24});
  testing::check_values(packed.in_proj_bias, std::vector<double>(24, 0.0), 0);
  testing::check_values(packed.out_proj.bias, std::vector<double>(8, 0.0), 0);

  MultiHeadAttention separate(8, 2, {.bias = false, .kdim = 3, .vdim = 5});
  CHECK(testing::parameter_names(separate) ==
        std::vector<std::string>{"q_proj_weight", "k_proj_weight", "v_proj_weight",
                                 "out_proj.weight"});
  CHECK(separate.k_proj_weight.shape() == Shape{8, 3});
  CHECK(separate.v_proj_weight.shape() == Shape{8, 5});
  CHECK(separate.head_dim == 4);
}

TEST_CASE("nn.MultiHeadAttention: errors name the module and the shapes") {
  CHECK_THROWS_WITH_AS(MultiHeadAttention(6, 4),
                       doctest::Contains("nn.MultiHeadAttention: embed_dim 6 must be a positive "
                                         "multiple of num_heads 4"),
                       Error);
  MultiHeadAttention mha(4, 2);
  const Tensor x = zeros({2, 3, 4});
  CHECK_THROWS_WITH_AS(
      mha(x, x, x, {.key_padding_mask = padding_mask({3, 2, 1}, 3)}),
      doctest::Contains("key_padding_mask of shape [3, 3] is not [B, Tk] = [2, 3]"), Error);
  CHECK_THROWS_WITH_AS(mha(x, x, x, {.attn_mask = causal_mask(4)}),
                       doctest::Contains("attn_mask of shape [4, 4] is none of [Tq, Tk] = [3, 3], "
                                         "[B * H, Tq, Tk] = [4, 3, 3] or [B, H, Tq, Tk] = "
                                         "[2, 2, 3, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(mha(x, x, x, {.attn_mask = ones({3, 3})}),
                       doctest::Contains("attn_mask must be bool"), Error);
  CHECK_THROWS_WITH_AS(mha(zeros({2, 3, 5}), x, x),
                       doctest::Contains("query of shape [2, 3, 5] is not [B, T, 4]"), Error);
  CHECK_THROWS_WITH_AS(mha(x, zeros({1, 3, 4}), zeros({1, 3, 4})),
                       doctest::Contains("disagree on B or Tk"), Error);
  CHECK_THROWS_WITH_AS(MultiHeadAttention(4, 2, {.kdim = 0}),
                       doctest::Contains("kdim 0 and vdim 4 must be positive"), Error);
  CHECK_THROWS_WITH_AS(MultiHeadAttention(4, 2, {.vdim = 0}),
                       doctest::Contains("kdim 4 and vdim 0 must be positive"), Error);
  for (const double p : {-0.1, 1.5})
    CHECK_THROWS_WITH_AS(
        MultiHeadAttention(4, 2, {.dropout = p}),
        doctest::Contains(fmt::format("dropout {} is not a probability in [0, 1]", p).c_str()),
        Error);
}

TEST_CASE("nn.MultiHeadAttention: two of query, key and value one tensor is not self-attention") {
  // Self-attention (query, key and value one tensor) takes a path of its own: a key that is only
  // also the value, or only also the query, must not take it.
  manual_seed(3);
  MultiHeadAttention mha(4, 2);
  testing::to_eval(mha, kFloat64);
  const Tensor query = testing::input({2, 3, 4}, 1), memory = testing::input({2, 5, 4}, 2);
  const Tensor shared = mha(query, memory, memory).output;
  CHECK(shared.shape() == Shape{2, 3, 4});
  testing::check_values(shared, mha(query, memory, memory.clone()).output.to_vector(), 1e-12);
  const Tensor value = testing::input({2, 3, 4}, 3);
  testing::check_values(mha(query, query, value).output,
                        mha(query, query.clone(), value).output.to_vector(), 1e-12);
}

// ---- FeedForward ----

TEST_CASE("gradcheck nn.FeedForward") {
  const Tensor x = testing::input({2, 3, 4}, 1);
  for (const Activation activation : {Activation::ReLU, Activation::GELU}) {
    FeedForward ff(4, 6, {.activation = activation, .dropout = 0.0});
    ff.to(kFloat64);
    CHECK(testing::parameter_names(ff) == std::vector<std::string>{"linear1.weight", "linear1.bias",
                                                                   "linear2.weight",
                                                                   "linear2.bias"});
    CHECK(gradcheck([&](Inputs in) { return ff(in[0]); }, with_parameters(ff, {x})));
  }
}

TEST_CASE("nn.FeedForward is linear2(activation(linear1(x))) in eval mode") {
  FeedForward ff(4, 6, {.activation = Activation::GELU});
  ff.eval();
  const Tensor x = randn({2, 4});
  testing::check_values(ff(x), ff.linear2(gelu(ff.linear1(x))).to_vector(), 1e-6);
}

TEST_CASE("nn.FeedForward adds a residual in linear2, with its gradient") {
  FeedForward ff(4, 6, {.dropout = 0.0});
  const Tensor x = randn({2, 3, 4}), r = randn({2, 3, 4});
  CHECK(allclose(ff(x, r), ff(x) + r, 1e-6, 1e-6));
  ff.to(kFloat64);
  CHECK(
      gradcheck([&](Inputs in) { return ff(in[0], in[1]); },
                with_parameters(ff, {testing::input({2, 3, 4}, 1), testing::input({2, 3, 4}, 2)})));
  CHECK_THROWS_WITH_AS(ff(testing::input({2, 3, 4}, 1), testing::input({2, 4}, 2)),
                       doctest::Contains("linear: residual of shape [2, 4]"), Error);
}

// ---- TransformerEncoderLayer and TransformerEncoder ----

TEST_CASE("gradcheck nn.TransformerEncoderLayer") {
  const Tensor x = testing::input({2, 3, 4}, 1);
  const Tensor mask = padding_mask({3, 2}, 3);
  for (const bool norm_first : {false, true}) {
    CAPTURE(norm_first);
    TransformerEncoderLayer layer({.d_model = 4,
                                   .nhead = 2,
                                   .dim_feedforward = 6,
                                   .dropout = 0.0,
                                   .activation = Activation::GELU,
                                   .norm_first = norm_first});
    layer.to(kFloat64);
    CHECK(gradcheck([&](Inputs in) { return layer(in[0]); }, with_parameters(layer, {x})));
    CHECK(gradcheck(
        [&](Inputs in) { return layer(in[0], {.src_key_padding_mask = mask, .is_causal = true}); },
        with_parameters(layer, {x})));
  }
}

TEST_CASE(
    "nn.TransformerEncoderLayer: training with a dropout that drops nothing gives eval's output") {
  // p = 1e-9 takes the training path (residuals added after the dropouts, not by the GEMMs) and
  // keeps every element, scaled by 1/(1 - 1e-9).
  manual_seed(4);
  const Tensor x = randn({2, 5, 8});
  for (const bool norm_first : {false, true}) {
    CAPTURE(norm_first);
    TransformerEncoderLayer layer({.d_model = 8,
                                   .nhead = 2,
                                   .dim_feedforward = 12,
                                   .dropout = 1e-9,
                                   .norm_first = norm_first});
    layer.eval();
    const Tensor evaluated = layer(x);
    layer.train();
    testing::check_values(layer(x), evaluated.to_vector(), 1e-5);
  }
}

TEST_CASE("gradcheck nn.TransformerEncoder") {
  const Tensor x = testing::input({2, 3, 4}, 1);
  TransformerEncoder encoder({.d_model = 4, .nhead = 2, .dim_feedforward = 6, .norm_first = true},
                             2, LayerNormOptions{});
  encoder.to(kFloat64);
  encoder.eval();  // dropout 0.1 is off
  CHECK(gradcheck(
      [&](Inputs in) {
        return encoder(
            in[0], {.src_key_padding_mask = padding_mask({2, 3}, 3), .src_mask = causal_mask(3)});
      },
      with_parameters(encoder, {x})));
}

TEST_CASE(
    "nn.TransformerEncoderLayer: PyTorch's names, and post-LN and pre-LN "
    "by hand") {
  TransformerEncoderLayer layer({.d_model = 8, .nhead = 2, .dim_feedforward = 16});
  CHECK(testing::parameter_names(layer) ==
        std::vector<std::string>{"self_attn.in_proj_weight", "self_attn.in_proj_bias",
                                 "self_attn.out_proj.weight", "self_attn.out_proj.bias",
                                 "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
                                 "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"});
  CHECK(layer.feed_forward.linear1.weight.shape() == Shape{16, 8});
  layer.eval();
  CHECK_FALSE(layer.feed_forward.dropout.is_training());

  const Tensor x = randn({2, 3, 8});
  const auto attend = [&](const Tensor& h) { return layer.self_attn(h, h, h).output; };
  const auto feed_forward = [&](const Tensor& h) {
    return layer.feed_forward.linear2(relu(layer.feed_forward.linear1(h)));
  };
  const Tensor h = layer.norm1(x + attend(x));
  testing::check_values(layer(x), layer.norm2(h + feed_forward(h)).to_vector(), 1e-5);

  layer.options.norm_first = true;
  const Tensor g = x + attend(layer.norm1(x));
  testing::check_values(layer(x), (g + feed_forward(layer.norm2(g))).to_vector(), 1e-5);
}

TEST_CASE("nn.TransformerEncoderLayer: dropout 1 while training drops both residual branches") {
  TransformerEncoderLayer layer({.d_model = 4, .nhead = 2, .dim_feedforward = 8, .dropout = 1.0});
  const Tensor x = randn({2, 3, 4});
  testing::check_values(layer(x), layer.norm2(layer.norm1(x)).to_vector(), 1e-6);
}

TEST_CASE("nn.TransformerEncoderLayer: padding and future tokens stay out of real past tokens") {
  TransformerEncoderLayer layer({.d_model = 4, .nhead = 2, .dim_feedforward = 8});
  layer.eval();
  const Tensor x = randn({2, 3, 4});
  const Tensor x_changed = perturbed(x, 1, 2);
  const TransformerEncoderForwardOptions padded{.src_key_padding_mask = padding_mask({3, 2}, 3)};
  CHECK(token(layer(x, padded), 1, 0) == token(layer(x_changed, padded), 1, 0));
  CHECK(token(layer(x, padded), 1, 1) == token(layer(x_changed, padded), 1, 1));
  CHECK(token(layer(x, {.is_causal = true}), 1, 1) ==
        token(layer(x_changed, {.is_causal = true}), 1, 1));
  CHECK(token(layer(x), 1, 1) != token(layer(x_changed), 1, 1));
}

TEST_CASE(
    "nn.TransformerEncoder: layers.i names, own weights, layers in turn "
    "then the norm") {
  TransformerEncoder encoder({.d_model = 4, .nhead = 2, .dim_feedforward = 8}, 2,
                             LayerNormOptions{});
  const std::vector<std::string> all = testing::parameter_names(encoder);
  REQUIRE(all.size() == 2 * 12 + 2);
  CHECK(all[0] == "layers.0.self_attn.in_proj_weight");
  CHECK(all[12] == "layers.1.self_attn.in_proj_weight");
  CHECK(all[25] == "norm.bias");
  CHECK(encoder.layers[0].feed_forward.linear1.weight.to_vector() !=
        encoder.layers[1].feed_forward.linear1.weight.to_vector());

  encoder.eval();
  const Tensor x = randn({2, 3, 4});
  const Tensor mask = padding_mask({3, 1}, 3);
  const Tensor by_hand = (*encoder.norm)(encoder.layers[1](
      encoder.layers[0](x, {.src_key_padding_mask = mask}), {.src_key_padding_mask = mask}));
  testing::check_values(encoder(x, {.src_key_padding_mask = mask}), by_hand.to_vector(), 0);
  CHECK(testing::parameter_names(TransformerEncoder({.d_model = 4, .nhead = 2}, 1)).back() ==
        "layers.0.norm2.bias");
}

TEST_CASE("nn.TransformerEncoderLayer and TransformerEncoder: errors") {
  CHECK_THROWS_WITH_AS(TransformerEncoderLayer({.d_model = 4}),
                       doctest::Contains("nn.TransformerEncoderLayer: d_model 4, nhead 0"), Error);
  CHECK_THROWS_WITH_AS(TransformerEncoderLayer({.d_model = 0, .nhead = 2}),
                       doctest::Contains("nn.TransformerEncoderLayer: d_model 0, nhead 2"), Error);
  CHECK_THROWS_WITH_AS(TransformerEncoderLayer({.d_model = 4, .nhead = 2, .dim_feedforward = 0}),
                       doctest::Contains("and dim_feedforward 0 must be positive"), Error);
  CHECK_THROWS_WITH_AS(TransformerEncoderLayer({.d_model = 6, .nhead = 4}),
                       doctest::Contains("embed_dim 6 must be a positive multiple of num_heads 4"),
                       Error);
  CHECK_THROWS_WITH_AS(TransformerEncoder({.d_model = 4, .nhead = 2}, 0),
                       doctest::Contains("num_layers 0 must be positive"), Error);
  TransformerEncoderLayer layer({.d_model = 4, .nhead = 2, .dim_feedforward = 8});
  CHECK_THROWS_WITH_AS(layer(zeros({2, 3, 4}), {.src_mask = causal_mask(2)}),
                       doctest::Contains("attn_mask of shape [2, 2]"), Error);
}

// ---- masked_mean ----

TEST_CASE("gradcheck masked_mean") {
  const Tensor h = testing::input({3, 2, 4}, 1);
  const Tensor mask = padding_mask({2, 1, 0}, 2);  // the last example has no real token
  CHECK(gradcheck([&](Inputs in) { return masked_mean(in[0], mask); }, {h}));

  const Tensor pooled = masked_mean(h, mask);
  CHECK(pooled.shape() == Shape{3, 4});
  testing::check_values(narrow(pooled, 0, 0, 1), mean(narrow(h, 0, 0, 1), {1}).to_vector(), 1e-12);
  testing::check_values(narrow(pooled, 0, 1, 1), token(h, 1, 0), 1e-12);
  testing::check_values(narrow(pooled, 0, 2, 1), {0, 0, 0, 0}, 0);
  pooled.sum().backward();
  CHECK(all_finite(h.grad()));
  testing::check_values(narrow(h.grad(), 0, 2, 1), std::vector<double>(8, 0.0), 0);
  CHECK_THROWS_WITH_AS(masked_mean(h, padding_mask({2, 1}, 2)),
                       doctest::Contains("nn.masked_mean: h [3, 2, 4] must be [B, T, C]"), Error);
}
