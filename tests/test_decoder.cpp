// The decoder-only language model (nn/decoder.hpp) and its KV cache (nn/kv_cache.hpp): GPT-2's
// names, causality, cached decoding against the full forward, tied weights, gradient checks, and
// the errors for sequences longer than the model or the cache.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "nn/nn.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;
using namespace tapegrad::nn;

namespace {

using Inputs = const std::vector<Tensor>&;

using testing::to_eval;
using testing::with_parameters;

// A small model's options. Seeds the default generator: the model made next has fixed weights.
DecoderLMOptions small(PositionEncoding positions, bool tie_weights = true, int64_t num_layers = 2,
                       int64_t window = 0) {
  manual_seed(3);
  return {.vocab_size = 11,
          .max_len = 12,
          .d_model = 8,
          .nhead = 2,
          .num_layers = num_layers,
          .positions = positions,
          .tie_weights = tie_weights,
          .window = window};
}

Tensor random_ids(int64_t B, int64_t T, int64_t vocab, uint64_t seed) {
  Generator generator(seed);
  return randint(0, vocab, {B, T}, generator);
}

// max |a - b| / max |b| over every element
double relative_error(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  REQUIRE(x.size() == y.size());
  double difference = 0, scale = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    difference = std::max(difference, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return difference / scale;
}

}  // namespace

TEST_CASE("nn.DecoderLM: GPT-2's names") {
  DecoderLM tied(small(PositionEncoding::Learned, true, 1));
  to_eval(tied, kFloat32);
  CHECK(testing::parameter_names(tied) ==
        std::vector<std::string>{"wte.weight", "wpe.weight", "h.0.ln_1.weight", "h.0.ln_1.bias",
                                 "h.0.attn.in_proj_weight", "h.0.attn.in_proj_bias",
                                 "h.0.attn.out_proj.weight", "h.0.attn.out_proj.bias",
                                 "h.0.ln_2.weight", "h.0.ln_2.bias", "h.0.mlp.linear1.weight",
                                 "h.0.mlp.linear1.bias", "h.0.mlp.linear2.weight",
                                 "h.0.mlp.linear2.bias", "ln_f.weight", "ln_f.bias"});
  CHECK(tied.h[0].mlp.linear1.weight.shape() == Shape{32, 8});  // dim_feedforward 4 * d_model
  CHECK(tied.lm_head_weight().impl() == tied.wte.weight.impl());

  DecoderLM untied(small(PositionEncoding::Sinusoidal, false, 1));
  to_eval(untied, kFloat32);
  const std::vector<std::string> untied_names = testing::parameter_names(untied);
  CHECK(untied_names.back() == "lm_head.weight");
  CHECK(std::count(untied_names.begin(), untied_names.end(), "wpe.weight") == 0);
  CHECK(untied.lm_head_weight().shape() == Shape{11, 8});
}

TEST_CASE("nn.DecoderLM: logits by hand when the blocks add nothing") {
  // With out_proj and linear2 zero, every block adds 0 to the residual stream, so
  //   logits[t] = ln_f(wte[id_t] + wpe[t]) · wteᵀ   (tied).
  // In 2 dimensions layer norm maps (a, b) to c · (sign(a - b), -sign(a - b)) with
  // c = 0.5 / sqrt(0.25 + 1e-5) when |a - b| = 1 (ln_f's weight 1, bias 0).
  DecoderLM model({.vocab_size = 3,
                   .max_len = 2,
                   .d_model = 2,
                   .nhead = 1,
                   .num_layers = 1,
                   .dim_feedforward = 3,
                   .dropout = 0.0});
  to_eval(model, kFloat64);
  for (auto& [name, parameter] : model.named_parameters()) {
    if (name.find("out_proj") != std::string::npos || name.find("linear2") != std::string::npos)
      copy_into(parameter, zeros_like(parameter));
  }
  copy_into(model.wte.weight, from_vector(std::vector<double>{1, 0, 0, 1, 2, -1}, {3, 2}));
  copy_into(model.wpe->weight, from_vector(std::vector<double>{0, 0, 2, 0}, {2, 2}));
  // Token 0 at position 0: (1, 0) -> c (1, -1); token 1 at position 1: (0, 1) + (2, 0) = (2, 1)
  // -> c (1, -1) too; token 1 at position 0: (0, 1) -> c (-1, 1). The logits of n are
  // (n · (1, 0), n · (0, 1), n · (2, -1)).
  const double c = 0.5 / std::sqrt(0.25 + 1e-5);
  const Tensor ids = from_vector(std::vector<int64_t>{0, 1, 1, 1}, {2, 2});
  testing::check_values(model(ids), {c, -c, 3 * c, c, -c, 3 * c, -c, c, -3 * c, c, -c, 3 * c},
                        1e-12);
}

TEST_CASE("nn.DecoderLM: causal, a later token changes no earlier logit") {
  DecoderLM model(small(PositionEncoding::Learned));
  to_eval(model, kFloat64);
  const Tensor ids = random_ids(1, 6, 11, 5);
  const Tensor changed = clone(ids);
  changed.data<int64_t>()[4] = (ids.data<int64_t>()[4] + 1) % 11;
  const Tensor before = model(ids), after = model(changed);  // [1, 6, 11]
  CHECK(relative_error(narrow(after, 1, 0, 4), narrow(before, 1, 0, 4)) == 0.0);
  CHECK(relative_error(narrow(after, 1, 4, 2), narrow(before, 1, 4, 2)) > 1e-3);
}

TEST_CASE("nn.DecoderLM: cached decoding equals the full forward at every position") {
  // Prefill 4 tokens, a chunk of 3 after them (its causal mask is offset by the cache), then one
  // token per call; the logits of every position against one forward over all 10. With a window
  // of 3 the prompt is longer than the ring and the chunk comes after a wrapped ring; with 5 the
  // chunk wraps it; 16 is more than max_len 12 (a plain cache).
  for (const DType dtype : {kFloat64, kFloat32}) {
    for (const auto& [positions, window] :
         {std::pair{PositionEncoding::Learned, 0}, std::pair{PositionEncoding::Sinusoidal, 0},
          std::pair{PositionEncoding::Learned, 3}, std::pair{PositionEncoding::Sinusoidal, 5},
          std::pair{PositionEncoding::Learned, 16}}) {
      CAPTURE(dtype);
      CAPTURE(static_cast<int>(positions));
      CAPTURE(window);
      DecoderLM model(small(positions, true, 2, window));
      to_eval(model, dtype);
      const int64_t B = 2, T = 10;
      const Tensor ids = random_ids(B, T, 11, 7);
      const Tensor full = model(ids);  // [B, T, V]

      std::vector<KVCache> cache = model.make_cache(B);
      std::vector<Tensor> pieces;
      const auto feed = [&](int64_t first, int64_t length) {
        pieces.push_back(model(narrow(ids, 1, first, length).contiguous(), cache));
      };
      feed(0, 4);
      feed(4, 3);
      for (int64_t t = 7; t < T; ++t) feed(t, 1);
      CHECK(cache[0].length() == T);
      CHECK(cache[0].capacity() == (window > 0 ? std::min<int64_t>(window, 12) : 12));
      const Tensor cached = cat(pieces, 1);  // [B, T, V]
      CHECK(cached.shape() == full.shape());
      const double error = relative_error(cached, full);
      CAPTURE(error);
      CHECK(error <= (dtype == kFloat64 ? 1e-12 : 1e-5));
    }
  }
}

TEST_CASE("nn.DecoderLM: cached decoding applies the attention's head gate as the forward does") {
  DecoderLM model(small(PositionEncoding::Learned));
  to_eval(model, kFloat64);
  const Tensor ids = random_ids(1, 6, 11, 5);
  const Tensor ungated = model(ids);
  for (auto& block : model.h) block.attn.head_gate = tensor({1.0, 0.0}, {.dtype = kFloat64});
  const Tensor full = model(ids);
  CHECK(relative_error(full, ungated) > 1e-3);  // the gate matters
  std::vector<KVCache> cache = model.make_cache(1);
  std::vector<Tensor> pieces = {model(narrow(ids, 1, 0, 3).contiguous(), cache)};
  for (int64_t t = 3; t < 6; ++t) pieces.push_back(model(narrow(ids, 1, t, 1).contiguous(), cache));
  CHECK(relative_error(cat(pieces, 1), full) <= 1e-12);
  model.h[0].attn.head_gate = tensor({1.0, 0.0, 1.0}, {.dtype = kFloat64});
  std::vector<KVCache> fresh = model.make_cache(1);
  CHECK_THROWS_WITH_AS(model(narrow(ids, 1, 0, 1).contiguous(), fresh),
                       doctest::Contains("head_gate float64 of shape [3] is not [num_heads] = [2]"),
                       Error);
}

TEST_CASE("nn.DecoderLM: made with pruned_heads, it loads a pruned model and caches its heads") {
  DecoderLM model(small(PositionEncoding::Learned));
  to_eval(model, kFloat64);
  model.h[1].attn.prune_heads({0});
  DecoderLMOptions options = small(PositionEncoding::Learned);
  options.pruned_heads = {{1, {0}}};
  DecoderLM made_pruned(options);
  CHECK(made_pruned.h[0].attn.num_heads == 2);
  CHECK(made_pruned.h[1].attn.num_heads == 1);
  to_eval(made_pruned, kFloat64);
  made_pruned.load_state_dict(model.state_dict());
  const Tensor ids = random_ids(1, 6, 11, 5);
  const Tensor full = made_pruned(ids);
  CHECK(equal(full, model(ids)));
  std::vector<KVCache> cache = made_pruned.make_cache(1);  // a cache of the heads left
  CHECK(relative_error(made_pruned(ids, cache), full) <= 1e-12);

  options.pruned_heads = {{2, {0}}};
  CHECK_THROWS_WITH_AS(
      DecoderLM{options},
      doctest::Contains("nn.DecoderLM: pruned_heads of block 2; the blocks are 0..1"), Error);
  options.pruned_heads = {{0, {0, 1}}};
  CHECK_THROWS_WITH_AS(DecoderLM{options}, doctest::Contains("would leave none of 2"), Error);
}

TEST_CASE("nn.DecoderLM: a window changes exactly the logits of tokens with more than W before") {
  DecoderLM local(small(PositionEncoding::Learned, true, 1, 3));
  to_eval(local, kFloat64);
  DecoderLM global(small(PositionEncoding::Learned, true, 1));
  to_eval(global, kFloat64);
  const Tensor ids = random_ids(1, 6, 11, 5);
  const Tensor a = local(ids), b = global(ids);  // [1, 6, 11]
  CHECK(relative_error(narrow(a, 1, 0, 3), narrow(b, 1, 0, 3)) <= 1e-15);
  CHECK(relative_error(narrow(a, 1, 3, 3), narrow(b, 1, 3, 3)) > 1e-3);
}

TEST_CASE("KVCache: a window keeps the W latest tokens in a ring, token p in row p % W") {
  KVCache cache(1, 1, 100, 1, kFloat64, 4);
  CHECK(cache.capacity() == 4);
  // Token p's key and value are p and -p.
  const auto tokens = [](int64_t first, int64_t count) {
    return arange(static_cast<double>(first), static_cast<double>(first + count), 1.0,
                  {.dtype = kFloat64})
        .view({1, 1, count, 1});
  };
  cache.append(tokens(0, 3), -tokens(0, 3));
  CHECK(cache.key_rows().to_vector() == std::vector<double>{0, 1, 2});
  cache.append(tokens(3, 3), -tokens(3, 3));  // 3 4 5: 4 and 5 wrap to rows 0 and 1
  CHECK(cache.length() == 6);
  CHECK(cache.rows() == 4);
  CHECK(cache.key_rows().to_vector() == std::vector<double>{4, 5, 2, 3});
  CHECK(cache.keys().to_vector() == std::vector<double>{2, 3, 4, 5});
  CHECK(cache.values().to_vector() == std::vector<double>{-2, -3, -4, -5});
  cache.append(tokens(6, 7), -tokens(6, 7));  // 6..12: only 9..12 stay, 12 in row 0
  CHECK(cache.key_rows().to_vector() == std::vector<double>{12, 9, 10, 11});
  CHECK(cache.keys().to_vector() == std::vector<double>{9, 10, 11, 12});
  CHECK(KVCache(1, 1, 3, 1, kFloat64, 4).capacity() == 3);  // never more rows than max_len
  CHECK_THROWS_WITH_AS(cache.crop(12), doctest::Contains("the window's ring has wrapped"), Error);
  // A ring just full has overwritten nothing: it can still go back.
  KVCache full(1, 1, 100, 1, kFloat64, 4);
  full.append(tokens(0, 4), -tokens(0, 4));
  full.crop(4);  // to its own length: nothing to do
  CHECK(full.keys().to_vector() == std::vector<double>{0, 1, 2, 3});
  full.crop(2);
  CHECK(full.keys().to_vector() == std::vector<double>{0, 1});
  full.crop(0);
  CHECK(full.length() == 0);
}

TEST_CASE("KVCache.append: keys and values of any strides land in their rows") {
  // k [B, H, T, D] = [2, 3, 2, 4] as a permuted view of a [B, T, D, H] tensor: D's stride is 3
  // and H's 1, where a contiguous k has them the other way round.
  const Tensor base = arange(0.0, 48.0, 1.0, {.dtype = kFloat64}).view({2, 2, 4, 3});
  const Tensor k = permute(base, {0, 3, 1, 2});
  KVCache cache(2, 3, 5, 4, kFloat64);
  cache.append(k, -k);
  CHECK(cache.keys().to_vector() == k.contiguous().to_vector());
  CHECK(cache.values().to_vector() == (-k).contiguous().to_vector());
  cache.append(narrow(k, 2, 1, 1), narrow(k, 2, 0, 1));  // a third token: k's second and first
  CHECK(cache.keys().to_vector() == cat({k, narrow(k, 2, 1, 1)}, 2).contiguous().to_vector());
  CHECK(cache.values().to_vector() == cat({-k, narrow(k, 2, 0, 1)}, 2).contiguous().to_vector());
}

TEST_CASE("KVCache.crop: decoding again from a point gives the same logits") {
  DecoderLM model(small(PositionEncoding::Learned));
  to_eval(model, kFloat64);
  const Tensor ids = random_ids(1, 6, 11, 4);
  std::vector<KVCache> cache = model.make_cache();
  model(narrow(ids, 1, 0, 5).contiguous(), cache);
  const Tensor first = model(narrow(ids, 1, 5, 1).contiguous(), cache);
  for (KVCache& layer : cache) layer.crop(5);
  model(zeros({1, 1}, {.dtype = kInt64}), cache);  // another token in position 5
  for (KVCache& layer : cache) layer.crop(5);
  CHECK(relative_error(model(narrow(ids, 1, 5, 1).contiguous(), cache), first) == 0.0);
  CHECK_THROWS_WITH_AS(cache[0].crop(7), doctest::Contains("length 7 is not in 0..6"), Error);
}

TEST_CASE("nn.DecoderLM: cached decoding records nothing on the tape, and refuses live dropout") {
  DecoderLM model(small(PositionEncoding::Learned));
  std::vector<KVCache> cache = model.make_cache();
  CHECK_THROWS_WITH_AS(model(random_ids(1, 3, 11, 1), cache),
                       doctest::Contains("nn.DecoderBlock: the cached forward is for inference, "
                                         "and dropout 0.1 is on in training mode"),
                       Error);
  to_eval(model, kFloat64);
  cache = model.make_cache();
  const Tensor logits = model(random_ids(1, 3, 11, 1), cache);
  CHECK_FALSE(logits.requires_grad());
  // Training mode with dropout 0 runs: every dropout is the identity.
  DecoderLMOptions no_dropout = small(PositionEncoding::Learned);
  no_dropout.dropout = 0;
  DecoderLM training(no_dropout);
  std::vector<KVCache> training_cache = training.make_cache();
  CHECK(training(random_ids(1, 3, 11, 1), training_cache).shape() == Shape{1, 3, 11});
}

TEST_CASE("nn.DecoderLM: tied weights get the sum of both gradients") {
  DecoderLM tied(small(PositionEncoding::Learned, true));
  to_eval(tied, kFloat64);
  DecoderLM untied(small(PositionEncoding::Learned, false));
  to_eval(untied, kFloat64);
  untied.load_state_dict(tied.state_dict(), /*strict=*/false);
  copy_into(untied.lm_head->weight, tied.wte.weight);

  const Tensor ids = random_ids(2, 5, 11, 9);
  const Tensor weights = testing::input({2, 5, 11}, 4).detach();  // a loss that weighs each logit
  sum(tied(ids) * weights).backward();
  sum(untied(ids) * weights).backward();
  const Tensor expected = untied.wte.weight.grad() + untied.lm_head->weight.grad();
  CHECK(relative_error(tied.wte.weight.grad(), expected) <= 1e-14);
  // Both uses matter: neither gradient alone is the sum.
  CHECK(relative_error(tied.wte.weight.grad(), untied.lm_head->weight.grad()) > 1e-3);
  CHECK(relative_error(tied.wte.weight.grad(), untied.wte.weight.grad()) > 1e-3);
}

TEST_CASE("nn.DecoderBlock: training with a dropout that drops nothing gives eval's output") {
  // p = 1e-9 takes the training path (residuals added after the dropouts, not by the GEMMs) and
  // keeps every element, scaled by 1/(1 - 1e-9).
  manual_seed(4);
  DecoderBlock block({.d_model = 8, .nhead = 2, .dim_feedforward = 12, .dropout = 1e-9});
  const Tensor x = randn({2, 5, 8});
  block.eval();
  const Tensor evaluated = block(x);
  block.train();
  testing::check_values(block(x), evaluated.to_vector(), 1e-5);
}

TEST_CASE("gradcheck nn.DecoderBlock") {
  const Tensor x = testing::input({2, 3, 4}, 1);
  for (const int64_t window : {0, 2}) {
    CAPTURE(window);
    DecoderBlock block(
        {.d_model = 4, .nhead = 2, .dim_feedforward = 6, .dropout = 0.0, .window = window});
    block.to(kFloat64);
    CHECK(gradcheck([&](Inputs in) { return block(in[0]); }, with_parameters(block, {x})));
  }
}

TEST_CASE("gradcheck nn.DecoderLM") {
  const Tensor ids = random_ids(2, 3, 5, 2);
  for (const bool tie_weights : {true, false}) {
    for (const PositionEncoding positions :
         {PositionEncoding::Learned, PositionEncoding::Sinusoidal}) {
      CAPTURE(tie_weights);
      CAPTURE(static_cast<int>(positions));
      DecoderLM model({.vocab_size = 5,
                       .max_len = 4,
                       .d_model = 4,
                       .nhead = 2,
                       .num_layers = 2,
                       .dim_feedforward = 6,
                       .dropout = 0.0,
                       .positions = positions,
                       .tie_weights = tie_weights});
      model.to(kFloat64);
      CHECK(gradcheck([&](Inputs) { return model(ids); }, with_parameters(model, {})));
    }
  }
}

TEST_CASE("nn.DecoderLM: sequences longer than the model or the cache are errors") {
  DecoderLM model(small(PositionEncoding::Learned));
  to_eval(model, kFloat32);
  CHECK_THROWS_WITH_AS(model(random_ids(1, 13, 11, 1)),
                       doctest::Contains("positions 0..12 (ids of shape [1, 13] after 0 earlier "
                                         "tokens) exceed max_len 12"),
                       Error);
  std::vector<KVCache> cache = model.make_cache(1, 5);
  model(random_ids(1, 4, 11, 1), cache);
  CHECK_THROWS_WITH_AS(
      model(random_ids(1, 2, 11, 1), cache),
      doctest::Contains("4 cached tokens + 2 new ones exceed the cache's max_len 5"), Error);
  CHECK_THROWS_WITH_AS(model.make_cache(1, 13),
                       doctest::Contains("max_len 13 exceeds the model's max_len 12"), Error);
  cache.pop_back();
  CHECK_THROWS_WITH_AS(model(random_ids(1, 1, 11, 1), cache),
                       doctest::Contains("1 caches for 2 blocks"), Error);
}

TEST_CASE("nn.DecoderLM, DecoderBlock and KVCache: bad arguments are errors naming them") {
  CHECK_THROWS_WITH_AS(DecoderBlock({.d_model = 0, .nhead = 2}),
                       doctest::Contains("nn.DecoderBlock: d_model 0 and nhead 2"), Error);
  CHECK_THROWS_WITH_AS(DecoderLM({.vocab_size = 0, .d_model = 4, .nhead = 2, .num_layers = 1}),
                       doctest::Contains("nn.DecoderLM: vocab_size 0"), Error);
  CHECK_THROWS_WITH_AS(
      DecoderLM({.vocab_size = 4, .max_len = 0, .d_model = 4, .nhead = 2, .num_layers = 1}),
      doctest::Contains("vocab_size 4, max_len 0 and num_layers 1 must be positive"), Error);
  CHECK_THROWS_WITH_AS(DecoderLM({.vocab_size = 4, .d_model = 4, .nhead = 2, .num_layers = 0}),
                       doctest::Contains("max_len 1024 and num_layers 0 must be positive"), Error);
  DecoderLM model(small(PositionEncoding::Learned));
  CHECK_THROWS_WITH_AS(model(zeros({2, 3})),
                       doctest::Contains("ids must be int64 [B, T], got float32 of shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(KVCache(1, 2, 0, 4, kFloat32),
                       doctest::Contains("KVCache: batch 1, heads 2, max_len 0 and head_dim 4"),
                       Error);
  CHECK_THROWS_WITH_AS(KVCache(0, 2, 8, 4, kFloat32), doctest::Contains("KVCache: batch 0,"),
                       Error);
  CHECK_THROWS_WITH_AS(KVCache(1, 0, 8, 4, kFloat32), doctest::Contains("heads 0,"), Error);
  CHECK_THROWS_WITH_AS(KVCache(1, 2, 8, 0, kFloat32), doctest::Contains("head_dim 0 must be"),
                       Error);
  CHECK_THROWS_WITH_AS(KVCache(1, 2, 8, 4, kFloat32, -1),
                       doctest::Contains("KVCache: window -1 is negative"), Error);
  CHECK_THROWS_WITH_AS(DecoderBlock({.d_model = 4, .nhead = 2, .window = -2}),
                       doctest::Contains("window -2 positive (or 0 for none)"), Error);
  std::vector<KVCache> unwindowed = model.make_cache();
  DecoderLM windowed(small(PositionEncoding::Learned, true, 2, 4));
  CHECK_THROWS_WITH_AS(windowed(random_ids(1, 2, 11, 1), unwindowed),
                       doctest::Contains("a KVCache with window 0 for a block with window 4"),
                       Error);
  KVCache cache(1, 2, 8, 4, kFloat32);
  CHECK_THROWS_WITH_AS(cache.append(zeros({1, 2, 3, 5}), zeros({1, 2, 3, 5})),
                       doctest::Contains("must both be [B, H, T, head_dim] = [1, 2, 3, 4]"), Error);
  const MultiHeadAttention packed(8, 2), separate(8, 2, {.kdim = 6});
  CHECK_THROWS_WITH_AS(cached_self_attention(packed, zeros({1, 3, 7}), cache),
                       doctest::Contains("x of shape [1, 3, 7] is not [B, T, 8]"), Error);
  CHECK_THROWS_WITH_AS(cached_self_attention(separate, zeros({1, 3, 8}), cache),
                       doctest::Contains("needs the packed in_proj_weight"), Error);
}
