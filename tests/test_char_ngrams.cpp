// The classifier's bag of character n-grams: the ids of a text (hand-hashed), the text they are
// taken from, the part of the logits they add (by hand), and what the bag reads that word tokens
// cannot: words never seen in training.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>

#include "examples/common/char_ngrams.hpp"
#include "examples/common/spam_model.hpp"
#include "examples/common/split.hpp"
#include "examples/common/tokenizer.hpp"
#include "optim/optim.hpp"
#include "tests/spam_testing.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;

TEST_CASE("char n-grams: every run of 1 to max_n bytes, hashed, sorted, once each") {
  const text::CharNgramOptions options{.max_n = 3, .buckets = 1000};
  std::vector<int64_t> expected;
  for (const char* gram : {"h", "i", "!", "hi", "i!", "hi!"})
    expected.push_back(1 + text::fnv1a32(gram) % 999);
  std::sort(expected.begin(), expected.end());
  expected.erase(std::unique(expected.begin(), expected.end()), expected.end());
  CHECK(text::char_ngram_ids("Hi!", options) == expected);
  // Lowercased, each run of whitespace one space, repeats counted once.
  CHECK(text::char_ngram_ids("HI \t\n !", options) == text::char_ngram_ids("hi !", options));
  CHECK(text::char_ngram_ids("aaaa", options) == text::char_ngram_ids("aaa", options));
  CHECK(text::char_ngram_ids("", options).empty());
  // Bytes of non-ASCII text are n-grams too (the word tokenizer drops them).
  CHECK(text::tokenize("\xEC\x95\x88\xEB\x85\x95").empty());
  const std::vector<int64_t> korean = text::char_ngram_ids("\xEC\x95\x88\xEB\x85\x95", options);
  CHECK(korean.size() >= 10);
  for (const int64_t id : korean) CHECK((id >= 1 && id < 1000));
  testing::check_error([] { text::char_ngram_ids("x", {.max_n = 0}); },
                       {"char_ngram_ids", "max_n >= 1", "got 0"});
  testing::check_error([] { text::char_ngram_ids("x", {.buckets = 1}); }, {"buckets >= 2"});
}

TEST_CASE("char n-grams: the text a model reads is the start of the body through its last word") {
  CHECK(text::leading_words("Hello, big world! Bye", 2) == "Hello, big");
  CHECK(text::leading_words("  one", 1) == "  one");
  CHECK(text::leading_words("Hello, big world!", 0) == "");
  CHECK(text::leading_words("two words!", 5) == "two words!");
  testing::check_error([] { text::leading_words("x", -1); }, {"leading_words", "got -1"});
  const std::vector<text::TokenOffsets> offsets = text::token_offsets("Hi, you2!");
  REQUIRE(offsets.size() == 2);
  CHECK((offsets[0].begin == 0 && offsets[0].end == 2));
  CHECK((offsets[1].begin == 4 && offsets[1].end == 8));
  CHECK(text::token_offsets(" ,; ").empty());
  text::SpamModelConfig config{.vocab_size = 10, .body_words = 2, .ngram_max_n = 2};
  CHECK(text::message_ngrams(config, "Sale", "now on, then more") ==
        text::char_ngram_ids("Sale\nnow on", {.max_n = 2, .buckets = config.ngram_buckets}));
  config.ngram_buckets = 0;
  CHECK(text::message_ngrams(config, "Sale", "now on").empty());
}

TEST_CASE(
    "char n-grams: the bag adds the sum of its rows' weights over the square root of their count") {
  text::SpamModelConfig config = testing::tiny_spam_config(10);
  config.ngram_buckets = 6;
  text::SpamClassifier model(config);
  REQUIRE(model.ngram);
  CHECK(max(abs(model.ngram->weight)).item() == 0);  // says nothing before training
  const std::vector<double> w = {0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};  // row 0: padding
  model.ngram->weight.set_data(from_vector(w, {6, 2}));
  const Tensor ngrams = from_vector(std::vector<int64_t>{3, 5, 0, 2, 0, 0}, {2, 3});
  const std::vector<double> expected = {(5 + 9) / std::sqrt(2.0), (6 + 10) / std::sqrt(2.0), 3, 4};
  const std::vector<double> got = model.ngram_logits(ngrams).to_vector();
  REQUIRE(got.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) CHECK(got[i] == doctest::Approx(expected[i]).epsilon(1e-6));
  // A row without n-grams adds nothing; a model that has the bag refuses to run without it.
  const Tensor none = zeros({1, 1}, {.dtype = kInt64});
  CHECK(model.ngram_logits(none).to_vector() == std::vector<double>{0, 0});
  const Tensor ids = ones({1, 2}, {.dtype = kInt64});
  const Tensor mask = ones({1, 2}, {.dtype = kBool});
  testing::check_error([&] { model.forward(ids, mask, {}); },
                       {"bag of n-grams", "ngram_buckets 6", "got none"});
  // Configs saved before the bag existed load without it.
  nlohmann::json json = text::to_json(config);
  CHECK(text::spam_model_config_from_json(json, "config.json").ngram_buckets == 6);
  json.erase("ngram_buckets");
  json.erase("ngram_max_n");
  CHECK(text::spam_model_config_from_json(json, "config.json").ngram_buckets == 0);
  json["ngram_buckets"] = 1;
  testing::check_error([&] { text::spam_model_config_from_json(json, "config.json"); },
                       {"config.json", "ngram_buckets"});
}

TEST_CASE("char n-grams: the bag tells apart words the vocabulary never saw") {
  // Every sentence is one word seen nowhere else: the vocabulary maps each to <unk>, so the
  // Transformer alone sees the same input for both classes. Spam words hold "zq", ham words
  // "mh": their n-grams tell them apart.
  Generator generator(3);
  const auto word = [&](const char* marker) {
    std::string w;
    for (int i = 0; i < 3; ++i) w += static_cast<char>('a' + generator.next_u64() % 26);
    return w + marker + static_cast<char>('a' + generator.next_u64() % 26);
  };
  std::vector<std::string> train, held_out;
  std::vector<int> train_labels, held_out_labels;
  for (int i = 0; i < 400; ++i) {
    (i < 300 ? train : held_out).push_back(word(i % 2 ? "zq" : "mh"));
    (i < 300 ? train_labels : held_out_labels).push_back(i % 2);
  }
  const text::Vocabulary vocabulary = text::Vocabulary::build({{"hello"}});
  const auto accuracy = [&](int64_t buckets) {
    manual_seed(5);
    text::SpamModelConfig config = testing::tiny_spam_config(vocabulary.size());
    config.ngram_buckets = buckets;
    text::SpamClassifier model(config);
    const auto inputs = [&](const std::vector<std::string>& texts) {
      std::vector<text::ModelInput> out;
      for (const std::string& t : texts)
        out.push_back(text::encode_message(vocabulary, config, "", t));
      return out;
    };
    const std::vector<text::ModelInput> train_inputs = inputs(train),
                                        test_inputs = inputs(held_out);
    testing::train_tiny(model, train_inputs, train_labels, 5, 1);
    NoGradGuard no_grad;
    model.eval();
    std::vector<int64_t> all(held_out.size());
    std::iota(all.begin(), all.end(), 0);
    const text::Batch batch = text::make_batch(test_inputs, held_out_labels, all);
    const Tensor calls = max(model.forward(batch.ids, batch.mask, batch.ngrams), 1).indices;
    return mean(eq(calls, batch.labels).to(kFloat64)).item();
  };
  CHECK(accuracy(1 << 12) >= 0.95);
  CHECK(accuracy(0) <= 0.6);  // the Transformer alone: a coin
}
