// Sampling the next token (nn/sampling.hpp) on hand-made logits, and generate() (nn/generate.hpp)
// against a plain loop of full forwards: greedy, temperature, top-k, top-p, repetition penalty,
// seeds, streaming, stop sequences and strings, and the errors for bad options.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <set>

#include "nn/nn.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;
using namespace tapegrad::nn;

namespace {

Tensor logits_of(const std::vector<double>& values) {
  return from_vector(values, {static_cast<int64_t>(values.size())});
}

// How often each token is drawn in `draws` draws (no history).
std::map<int64_t, int> counts(const GenerationOptions& options, const Tensor& logits, int draws,
                              uint64_t seed = 1) {
  TokenSampler sampler(options);
  Generator generator(seed);
  std::map<int64_t, int> seen;
  for (int i = 0; i < draws; ++i) ++seen[sampler.next(logits, {}, generator)];
  return seen;
}

std::set<int64_t> keys(const std::map<int64_t, int>& seen) {
  std::set<int64_t> result;
  for (const auto& [token, count] : seen) result.insert(token);
  return result;
}

// A tiny model's options. Seeds the default generator: the model made next has fixed weights.
DecoderLMOptions tiny(int64_t max_len = 16) {
  manual_seed(11);
  return {.vocab_size = 7, .max_len = max_len, .d_model = 8, .nhead = 2, .num_layers = 2};
}

// Greedy continuation by full forwards over the whole sequence, without a cache.
std::vector<int64_t> greedy_by_full_forward(DecoderLM& model, std::vector<int64_t> sequence,
                                            int64_t new_tokens) {
  const std::size_t prompt = sequence.size();
  for (int64_t i = 0; i < new_tokens; ++i) {
    const Tensor logits = model(from_vector(sequence, {1, static_cast<int64_t>(sequence.size())}));
    const std::vector<double> last =
        select(select(logits, 0, 0), 0, logits.size(1) - 1).to_vector();
    sequence.push_back(std::max_element(last.begin(), last.end()) - last.begin());
  }
  return {sequence.begin() + static_cast<std::ptrdiff_t>(prompt), sequence.end()};
}

}  // namespace

TEST_CASE("TokenSampler: greedy, and temperature 0 or 1e-6 is greedy") {
  Generator generator(3);
  for (int row = 0; row < 50; ++row) {
    const Tensor logits = randn({20}, {.dtype = kFloat64}, generator);
    const std::vector<double> values = logits.to_vector();
    const int64_t best = std::max_element(values.begin(), values.end()) - values.begin();
    TokenSampler greedy({});
    TokenSampler zero({.do_sample = true, .temperature = 0});
    TokenSampler cold({.do_sample = true, .temperature = 1e-6});
    CHECK(greedy.next(logits, {}, generator) == best);
    CHECK(zero.next(logits, {}, generator) == best);
    CHECK(cold.next(logits, {}, generator) == best);
  }
  // Ties go to the lowest id.
  CHECK(TokenSampler({}).next(logits_of({1, 3, 3, 2}), {}, generator) == 1);
  // A strided row: the second column of a [4, 2] table, whose largest is in row 2.
  const Tensor table = from_vector(std::vector<double>{0, 5, 0, 1, 9, 7, 0, 2}, {4, 2});
  CHECK(TokenSampler({}).next(select(table, 1, 1), {}, generator) == 2);
}

TEST_CASE("TokenSampler: top-k never leaves the k best, the lowest ids among ties") {
  const Tensor logits = logits_of({0.3, 2.0, -1.0, 1.5, 0.9, 1.7, -0.2});  // best: 1, 5, 3
  const std::map<int64_t, int> seen =
      counts({.do_sample = true, .temperature = 2.0, .top_k = 3}, logits, 3000);
  CHECK(keys(seen) == std::set<int64_t>{1, 3, 5});
  // top_k larger than the vocabulary keeps every token.
  CHECK(keys(counts({.do_sample = true, .top_k = 50}, logits, 3000)).size() == 7);
  // Among equal logits the lowest ids are kept.
  const Tensor ties = logits_of({0, 3, 3, 3, 3, 3, 3, 3, 3, 1});
  CHECK(keys(counts({.do_sample = true, .top_k = 2}, ties, 300)) == std::set<int64_t>{1, 2});
}

TEST_CASE("TokenSampler: top-p keeps the smallest set with mass >= p") {
  // Probabilities 0.5, 0.3, 0.15, 0.05 (shuffled ids): top_p 0.45 keeps {0.5}, 0.75 {0.5, 0.3},
  // 0.85 {0.5, 0.3, 0.15}, 0.97 all four.
  const Tensor logits = logits_of({std::log(0.15), std::log(0.5), std::log(0.05), std::log(0.3)});
  const auto kept = [&](double top_p) {
    return keys(counts({.do_sample = true, .top_p = top_p}, logits, 4000));
  };
  CHECK(kept(0.45) == std::set<int64_t>{1});
  CHECK(kept(0.75) == std::set<int64_t>{1, 3});
  CHECK(kept(0.85) == std::set<int64_t>{0, 1, 3});
  CHECK(kept(0.97) == std::set<int64_t>{0, 1, 2, 3});
  // A mass of exactly p is reached: two equal logits (weights 1 and 1, exact), p = 0.5.
  CHECK(keys(counts({.do_sample = true, .top_p = 0.5}, logits_of({1.0, 1.0}), 400)) ==
        std::set<int64_t>{0});
  // What stays is renormalised: 0.5 / 0.8 of the draws are token 1 with top_p 0.75.
  const std::map<int64_t, int> seen = counts({.do_sample = true, .top_p = 0.75}, logits, 8000);
  CHECK(std::abs(seen.at(1) / 8000.0 - 0.625) < 0.02);
}

TEST_CASE(
    "TokenSampler: the repetition penalty divides positive logits, multiplies negative ones") {
  Generator generator(1);
  const std::vector<int64_t> history{0, 0};
  // Token 0 is in the history: 2.0 / 2 = 1.0 < 1.5.
  CHECK(TokenSampler({.repetition_penalty = 2})
            .next(logits_of({2.0, -1.0, 1.5}), history, generator) == 2);
  // Negative: -1.0 * 2 = -2.0 < -1.5.
  CHECK(TokenSampler({.repetition_penalty = 2})
            .next(logits_of({-1.0, -1.5, -3.0}), history, generator) == 1);
  // Once per token, however often it occurs: 3.0 / 2 = 1.5 > 1.0 (not 3.0 / 4).
  CHECK(TokenSampler({.repetition_penalty = 2}).next(logits_of({3.0, 1.0}), history, generator) ==
        0);
}

TEST_CASE("TokenSampler: bad options and logits are errors naming them") {
  const auto fails = [](const GenerationOptions& options, const char* message) {
    CHECK_THROWS_WITH_AS(TokenSampler{options}, doctest::Contains(message), Error);
  };
  fails({.max_new_tokens = -1}, "max_new_tokens -1 must not be negative");
  fails({.temperature = -0.5}, "temperature -0.5 must be finite and >= 0");
  fails({.top_k = -1}, "top_k -1 must be >= 1");
  fails({.top_p = 0}, "top_p 0 must be in (0, 1]");
  fails({.top_p = 1.5}, "top_p 1.5 must be in (0, 1]");
  fails({.repetition_penalty = 0}, "repetition_penalty 0 must be finite and > 0");
  fails({.stop_sequences = {{}}}, "stop_sequences holds an empty sequence");
  fails({.stop_strings = {"x"}}, "stop_strings need decode");
  Generator generator(1);
  CHECK_THROWS_WITH_AS(TokenSampler({}).next(zeros({2, 3}), {}, generator),
                       doctest::Contains("logits of shape [2, 3] are not one row [V]"), Error);
  CHECK_THROWS_WITH_AS(TokenSampler({}).next(zeros({0}), {}, generator),
                       doctest::Contains("logits of shape [0] are not one row [V]"), Error);
  // The history is read only to penalise repetitions: a token outside [0, V) is then an error.
  for (const int64_t token : {int64_t{-1}, int64_t{3}}) {
    CHECK_THROWS_WITH_AS(
        TokenSampler({.repetition_penalty = 1.2})
            .next(zeros({3}), std::vector<int64_t>{0, token}, generator),
        doctest::Contains(
            fmt::format("token {} of the sequence is not in the vocabulary [0, 3)", token).c_str()),
        Error);
  }
}

TEST_CASE("generate: greedy equals a loop of full forwards, and streams each token") {
  DecoderLM model(tiny());
  testing::to_eval(model, kFloat64);
  const std::vector<int64_t> prompt{1, 4, 2};
  std::vector<int64_t> streamed;
  const std::vector<int64_t> tokens =
      generate(model, prompt, {.max_new_tokens = 8}, [&](int64_t token) {
        streamed.push_back(token);
        return true;
      });
  CHECK(tokens == greedy_by_full_forward(model, prompt, 8));
  CHECK(streamed == tokens);

  // The callback stops generation by returning false; the token it was given is kept.
  int calls = 0;
  const std::vector<int64_t> three =
      generate(model, prompt, {.max_new_tokens = 8}, [&](int64_t) { return ++calls < 3; });
  CHECK(three == std::vector<int64_t>(tokens.begin(), tokens.begin() + 3));
}

TEST_CASE("generate: the same seed gives the same tokens") {
  DecoderLM model(tiny());
  testing::to_eval(model, kFloat64);
  const auto sample = [&](uint64_t seed) {
    Generator generator(seed);
    return generate(model, std::vector<int64_t>{3},
                    {.max_new_tokens = 12, .do_sample = true, .top_k = 5, .generator = &generator});
  };
  CHECK(sample(5) == sample(5));
  CHECK(sample(5) != sample(6));
}

TEST_CASE("generate: stop sequences, stop strings and the end of the positions") {
  DecoderLM model(tiny());
  testing::to_eval(model, kFloat64);
  const std::vector<int64_t> prompt{0};
  const std::vector<int64_t> all = generate(model, prompt, {.max_new_tokens = 10});
  REQUIRE(all.size() == 10);
  // A stop sequence made of tokens 3 and 4 of the greedy output stops after its first occurrence.
  const std::vector<int64_t> stop{all[3], all[4]};
  const auto first = std::search(all.begin(), all.end(), stop.begin(), stop.end());
  const std::vector<int64_t> until_stop(all.begin(), first + 2);
  CHECK(generate(model, prompt, {.max_new_tokens = 10, .stop_sequences = {stop}}) == until_stop);
  // A stop sequence of one token, the first generated.
  CHECK(generate(model, prompt, {.max_new_tokens = 10, .stop_sequences = {{all[0]}}}) ==
        std::vector<int64_t>{all[0]});
  // Only the generated tokens count: the prompt's last token and the first new one do not stop.
  const std::vector<int64_t> across{prompt.back(), all[0]};
  const auto inside = std::search(all.begin(), all.end(), across.begin(), across.end());
  const std::vector<int64_t> until_inside(all.begin(),
                                          inside == all.end() ? all.end() : inside + 2);
  CHECK(generate(model, prompt, {.max_new_tokens = 10, .stop_sequences = {across}}) ==
        until_inside);
  // The same as text, each token one letter.
  const auto letter = [](int64_t token) { return std::string(1, static_cast<char>('a' + token)); };
  std::string text;
  for (const int64_t token : stop) text += letter(token);
  CHECK(generate(model, prompt, {.max_new_tokens = 10, .stop_strings = {text}, .decode = letter}) ==
        until_stop);
  // A stop string inside the first token's text, which is longer than it: that token stops.
  const auto three_letters = [](int64_t token) {
    return std::string(3, static_cast<char>('a' + token));
  };
  CHECK(generate(model, prompt,
                 {.max_new_tokens = 10,
                  .stop_strings = {three_letters(all[0]).substr(0, 2)},
                  .decode = three_letters}) == std::vector<int64_t>{all[0]});
  CHECK(generate(model, prompt, {.max_new_tokens = 0}).empty());
  // The prompt and the new tokens share max_len positions: 16 - 14 + 1 new tokens at most.
  CHECK(generate(model, std::vector<int64_t>(14, 1), {.max_new_tokens = 10}).size() == 3);
  // A prompt of max_len tokens fills the positions: one new token, read from the last.
  CHECK(generate(model, std::vector<int64_t>(16, 1), {.max_new_tokens = 10}).size() == 1);
}

TEST_CASE("generate: a prompt longer than max_len, an empty one, a training model are errors") {
  DecoderLM model(tiny(8));
  testing::to_eval(model, kFloat64);
  CHECK_THROWS_WITH_AS(generate(model, std::vector<int64_t>(9, 1)),
                       doctest::Contains("the prompt of 9 tokens is longer than the model's "
                                         "max_len 8"),
                       Error);
  CHECK_THROWS_WITH_AS(generate(model, std::vector<int64_t>{}),
                       doctest::Contains("the prompt is empty"), Error);
  model.train();
  CHECK_THROWS_WITH_AS(generate(model, std::vector<int64_t>{1}),
                       doctest::Contains("call model.eval() first"), Error);
}
