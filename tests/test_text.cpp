// The text pipeline of the examples: tokenizer, vocabulary (and its JSON file), batches and their
// order, and the corpus listing (on a tiny corpus written here: the suite needs no download).
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "autograd/error.hpp"
#include "examples/common/batching.hpp"
#include "examples/common/spam_corpus.hpp"
#include "examples/common/spam_model.hpp"
#include "examples/common/tokenizer.hpp"
#include "examples/common/vocabulary.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;
using namespace tapegrad::text;
using Tokens = std::vector<std::string>;

using testing::check_error;

namespace {

std::vector<int64_t> values_of(const Tensor& tensor) {
  std::vector<int64_t> values;
  for (const double value : tensor.to_vector()) values.push_back(static_cast<int64_t>(value));
  return values;
}

}  // namespace

// Tokenizer.

TEST_CASE("text: tokenize lowercases ASCII letters and keeps digits") {
  CHECK(tokenize("Hello WORLD mIxEd") == Tokens{"hello", "world", "mixed"});
  CHECK(tokenize("win 1000000 USD4U 2day") == Tokens{"win", "1000000", "usd4u", "2day"});
}

TEST_CASE("text: tokenize splits on punctuation, whitespace and control bytes") {
  CHECK(tokenize("free!!!click-here.now") == Tokens{"free", "click", "here", "now"});
  CHECK(tokenize("http://www.x.com/a_b?c=d") ==
        Tokens{"http", "www", "x", "com", "a", "b", "c", "d"});
  CHECK(tokenize(std::string("a\tb\nc\rd\0e", 9)) == Tokens{"a", "b", "c", "d", "e"});
  CHECK(tokenize("  lead and trail  ") == Tokens{"lead", "and", "trail"});
}

TEST_CASE("text: tokenize treats every non-ASCII UTF-8 byte as a separator") {
  CHECK(tokenize("caf\xC3\xA9 na\xC3\xAFve") == Tokens{"caf", "na", "ve"});
  CHECK(tokenize("\xE2\x82\xAC"
                 "100") == Tokens{"100"});              // the euro sign
  CHECK(tokenize("\xC3\x89T\xC3\x89") == Tokens{"t"});  // É is not lowercased to é
  CHECK(tokenize("x\xFF\xFEy") == Tokens{"x", "y"});    // bytes that are no UTF-8 at all
}

TEST_CASE("text: tokenize of empty or separator-only text is empty") {
  CHECK(tokenize("").empty());
  CHECK(tokenize(" \t\n!?.,\xC3\xA9").empty());
}

TEST_CASE("text: tokenize_mail takes the whole subject and the first N body words") {
  CHECK(tokenize_mail("Re: Cheap pills", "one two, three four", 2) ==
        Tokens{"re", "cheap", "pills", "one", "two"});
  CHECK(tokenize_mail("Re: Cheap pills", "one two", 0) == Tokens{"re", "cheap", "pills"});
  CHECK(tokenize_mail("", "one two", 5) == Tokens{"one", "two"});
  CHECK(tokenize_mail("", "", 5).empty());
  check_error([] { tokenize_mail("s", "b", -1); }, {"tokenize_mail", "-1"});
}

// Vocabulary.

TEST_CASE("text: vocabulary puts <pad> at 0, <unk> at 1, then tokens by count") {
  const Vocabulary vocabulary = Vocabulary::build({{"b", "a", "b"}, {"c", "b", "a"}});
  CHECK(vocabulary.size() == 5);
  CHECK(vocabulary.token(Vocabulary::kPad) == "<pad>");
  CHECK(vocabulary.token(Vocabulary::kUnk) == "<unk>");
  CHECK(vocabulary.token(2) == "b");  // 3 times
  CHECK(vocabulary.token(3) == "a");  // 2 times
  CHECK(vocabulary.token(4) == "c");  // once
  CHECK(vocabulary.id("<pad>") == 0);
  CHECK(vocabulary.id("<unk>") == 1);
  CHECK(vocabulary.id("c") == 4);
  CHECK(vocabulary.id("never seen") == Vocabulary::kUnk);
}

TEST_CASE("text: vocabulary breaks count ties by token, whatever the document order") {
  const Vocabulary forward = Vocabulary::build({{"pear", "apple", "zoo", "fig", "fig"}});
  const Vocabulary backward = Vocabulary::build({{"fig", "zoo"}, {"apple", "fig", "pear"}});
  for (const Vocabulary* vocabulary : {&forward, &backward}) {
    REQUIRE(vocabulary->size() == 6);
    CHECK(vocabulary->token(2) == "fig");
    CHECK(vocabulary->token(3) == "apple");
    CHECK(vocabulary->token(4) == "pear");
    CHECK(vocabulary->token(5) == "zoo");
  }
}

TEST_CASE("text: vocabulary min_count and max_size keep the frequent tokens") {
  const std::vector<Tokens> documents = {{"a", "a", "a", "b", "b", "c"}, {"d", "b", "a"}};
  const Vocabulary at_least_two = Vocabulary::build(documents, {.min_count = 2});
  CHECK(at_least_two.size() == 4);
  CHECK(at_least_two.id("a") == 2);
  CHECK(at_least_two.id("b") == 3);
  CHECK(at_least_two.id("c") == Vocabulary::kUnk);
  CHECK(Vocabulary::build(documents, {.min_count = 5}).size() == 2);
  const Vocabulary three = Vocabulary::build(documents, {.max_size = 3});
  CHECK(three.size() == 3);
  CHECK(three.token(2) == "a");
  CHECK(Vocabulary::build(documents, {.max_size = 100}).size() == 6);
  check_error([&] { Vocabulary::build(documents, {.min_count = 0}); }, {"min_count", "0"});
  check_error([&] { Vocabulary::build(documents, {.max_size = 1}); }, {"max_size", "1"});
}

TEST_CASE("text: vocabulary does not count <pad> and <unk> found in documents") {
  const Vocabulary vocabulary = Vocabulary::build({{"<unk>", "<pad>", "<unk>", "x"}});
  CHECK(vocabulary.size() == 3);
  CHECK(vocabulary.id("<unk>") == 1);
  CHECK(vocabulary.id("x") == 2);
}

TEST_CASE("text: vocabulary encode maps unknowns to <unk> and truncates to max_len") {
  const Vocabulary vocabulary = Vocabulary::build({{"spam", "spam", "ham"}});
  CHECK(vocabulary.encode({"ham", "eggs", "spam"}, 10) == std::vector<int64_t>{3, 1, 2});
  CHECK(vocabulary.encode({"ham", "eggs", "spam"}, 2) == std::vector<int64_t>{3, 1});
  CHECK(vocabulary.encode({}, 4).empty());
  check_error([&] { vocabulary.encode({"ham"}, 0); }, {"max_len", "0"});
  check_error([&] { vocabulary.token(4); }, {"id 4", "[0, 4)"});
  check_error([&] { vocabulary.token(-1); }, {"id -1"});
}

TEST_CASE("text: vocabulary save and load round trip") {
  const testing::ScratchDirectory scratch;
  const Vocabulary saved =
      Vocabulary::build({{"b", "a", "b", "c", "d", "d", "d"}}, {.min_count = 1, .max_size = 4});
  const std::filesystem::path file = scratch.path() / "vocabulary.json";
  saved.save(file);
  const Vocabulary loaded = Vocabulary::load(file);
  REQUIRE(loaded.size() == 4);
  for (int64_t id = 0; id < saved.size(); ++id) CHECK(loaded.token(id) == saved.token(id));
  CHECK(loaded.id("d") == 2);
  CHECK(loaded.id("c") == Vocabulary::kUnk);
  CHECK(loaded.options().min_count == 1);
  CHECK(loaded.options().max_size == 4);
  const Vocabulary unbounded = Vocabulary::build({{"x"}}, {.min_count = 1});
  unbounded.save(file);  // over the old file
  CHECK(Vocabulary::load(file).size() == 3);
  CHECK_FALSE(Vocabulary::load(file).options().max_size.has_value());
  CHECK(std::distance(std::filesystem::directory_iterator(scratch.path()), {}) == 1);
}

TEST_CASE("text: vocabulary load names the file and the fault of each bad file") {
  const testing::ScratchDirectory scratch;
  const auto check_load = [&](const std::string& bytes, const std::string& fault) {
    const std::filesystem::path file = scratch.write("bad.json", bytes);
    INFO(bytes);
    check_error([&] { Vocabulary::load(file); }, {file.string(), fault});
  };
  const std::string options = R"("min_count": 1, "max_size": null)";
  check_error([&] { Vocabulary::load(scratch.path() / "missing.json"); },
              {(scratch.path() / "missing.json").string()});
  check_load("", "not valid JSON");
  check_load("{\"tokens\": [\"<pad>\", ", "not valid JSON");
  check_load(std::string("\x00\xFF\x80{", 4), "not valid JSON");
  check_load(R"({"tokens": ["<pad>", "<unk>", "caf\xE9"], "min_count": 1, "max_size": null})",
             "not valid JSON");  // a Latin-1 byte: not UTF-8
  check_load("[\"<pad>\", \"<unk>\"]", "expected a JSON object, got array");
  check_load("{" + options + "}", "no \"tokens\" key");
  check_load(R"({"tokens": ["<pad>", "<unk>"], "max_size": null})", "no \"min_count\" key");
  check_load(R"({"tokens": ["<pad>", "<unk>"], "min_count": 1})", "no \"max_size\" key");
  check_load(R"({"tokens": "<pad> <unk>", )" + options + "}",
             "\"tokens\" must be an array, got string");
  check_load(R"({"tokens": ["<pad>", "<unk>", 7], )" + options + "}",
             "tokens[2] must be a string, got number");
  check_load(R"({"tokens": ["<pad>", "<unk>", ""], )" + options + "}", "tokens[2] is empty");
  check_load(R"({"tokens": ["<pad>", "<unk>", "a", "b", "a"], )" + options + "}",
             "tokens[4] \"a\" repeats tokens[2]");
  check_load(R"({"tokens": ["<pad>", "<unk>", "<pad>"], )" + options + "}", "repeats tokens[0]");
  check_load(R"({"tokens": ["<unk>", "<pad>"], )" + options + "}",
             "must start with \"<pad>\", \"<unk>\"");
  check_load(R"({"tokens": ["<pad>"], )" + options + "}", "must start with");
  check_load(R"({"tokens": [], )" + options + "}", "must start with");
  check_load(R"({"tokens": ["<pad>", "<unk>"], "min_count": "2", "max_size": null})",
             "\"min_count\" must be an integer, got string");
  check_load(R"({"tokens": ["<pad>", "<unk>"], "min_count": 1.5, "max_size": null})",
             "\"min_count\" must be an integer, got number");
  check_load(R"({"tokens": ["<pad>", "<unk>"], "min_count": 0, "max_size": null})",
             "min_count must be >= 1");
  check_load(R"({"tokens": ["<pad>", "<unk>"], "min_count": 1, "max_size": [3]})",
             "\"max_size\" must be an integer or null, got array");
  check_load(R"({"tokens": ["<pad>", "<unk>"], "min_count": 1, "max_size": -5})",
             "max_size must be >= 2");
  check_load(R"({"tokens": ["<pad>", "<unk>", "a"], "min_count": 1, "max_size": 2})",
             "3 tokens, more than max_size 2");
}

// The model's config.json.

TEST_CASE("text: spam model config integers must be JSON integers in int64's range") {
  // Found by tests/fuzz/fuzz_model_config: 6418446744073709551615 was converted to int64 from a
  // double, undefined behaviour; 2.5 heads were silently truncated to 2.
  const auto config_with = [](const char* key, const nlohmann::json& value) {
    nlohmann::json json = to_json(SpamModelConfig{.vocab_size = 100});
    json[key] = value;
    return json;
  };
  CHECK(spam_model_config_from_json(to_json(SpamModelConfig{.vocab_size = 100}), "ok").vocab_size ==
        100);
  for (const nlohmann::json& value :
       {nlohmann::json::parse("6418446744073709551615"), nlohmann::json(2.5),
        nlohmann::json(9223372036854775808ull), nlohmann::json(-1e300), nlohmann::json("4")})
    check_error([&] { spam_model_config_from_json(config_with("d_model", value), "config.json"); },
                {"config.json", "'d_model' is missing or not an integer"});
  check_error([&] { spam_model_config_from_json(config_with("dropout", "0.1"), "config.json"); },
              {"'dropout' is missing or not a number"});
  check_error([&] { spam_model_config_from_json(nlohmann::json::array(), "config.json"); },
              {"not a JSON object"});
}

// Batching.

TEST_CASE("text: make_batch pads to the longest row with a mask of real tokens") {
  const std::vector<ModelInput> inputs = {
      {{5, 6, 7}, {3, 9}}, {{8}, {}}, {{9, 10, 11, 12, 13}, {1, 2, 3, 4}}, {{4, 4}, {7}}};
  const std::vector<int> labels = {1, 0, 1, 0};
  const std::vector<int64_t> indices = {3, 0, 1};
  const Batch batch = make_batch(inputs, labels, indices);
  CHECK(batch.ids.dtype() == kInt64);
  CHECK(batch.mask.dtype() == kBool);
  CHECK(batch.ngrams.dtype() == kInt64);
  CHECK(batch.labels.dtype() == kInt64);
  CHECK(batch.ids.shape() == Shape{3, 3});  // the longest of rows 3, 0, 1; not of all rows
  CHECK(batch.mask.shape() == Shape{3, 3});
  CHECK(batch.ngrams.shape() == Shape{3, 2});  // the most n-grams of rows 3, 0, 1
  CHECK(batch.labels.shape() == Shape{3});
  CHECK(values_of(batch.ids) == std::vector<int64_t>{4, 4, 0, 5, 6, 7, 8, 0, 0});
  CHECK(values_of(batch.mask) == std::vector<int64_t>{1, 1, 0, 1, 1, 1, 1, 0, 0});
  CHECK(values_of(batch.ngrams) == std::vector<int64_t>{7, 0, 3, 9, 0, 0});
  CHECK(values_of(batch.labels) == std::vector<int64_t>{0, 1, 0});
  const std::vector<int64_t> no_ngrams = {1};
  CHECK(make_batch(inputs, labels, no_ngrams).ngrams.shape() == Shape{1, 1});  // one padding id
}

TEST_CASE("text: make_batch gives an empty sequence one <unk> with mask true") {
  const std::vector<ModelInput> sequences = {{}, {{7, 8}, {}}, {}};
  const std::vector<int> labels = {1, 0, 0};
  const std::vector<int64_t> both = {0, 1};
  const Batch mixed = make_batch(sequences, labels, both);
  CHECK(values_of(mixed.ids) == std::vector<int64_t>{Vocabulary::kUnk, Vocabulary::kPad, 7, 8});
  CHECK(values_of(mixed.mask) == std::vector<int64_t>{1, 0, 1, 1});
  const std::vector<int64_t> empties = {2, 0};
  const Batch empty = make_batch(sequences, labels, empties);
  CHECK(empty.ids.shape() == Shape{2, 1});
  CHECK(values_of(empty.ids) == std::vector<int64_t>{Vocabulary::kUnk, Vocabulary::kUnk});
  CHECK(values_of(empty.mask) == std::vector<int64_t>{1, 1});
}

TEST_CASE("text: make_batch rejects no indices, bad indices and mismatched labels") {
  const std::vector<ModelInput> sequences = {{{2}, {}}, {{3}, {}}};
  const std::vector<int> labels = {0, 1};
  const std::vector<int64_t> none, past_end = {0, 2}, negative = {-1};
  check_error([&] { make_batch(sequences, labels, none); }, {"make_batch", "no indices"});
  check_error([&] { make_batch(sequences, labels, past_end); }, {"index 2", "[0, 2)"});
  check_error([&] { make_batch(sequences, labels, negative); }, {"index -1"});
  check_error([&] { make_batch(sequences, {0}, std::vector<int64_t>{0}); },
              {"2 inputs but 1 labels"});
}

TEST_CASE("text: BatchOrder permutation is a seeded, reproducible permutation per epoch") {
  const BatchOrder order(100, 8, 42);
  const std::vector<int64_t> epoch0 = order.permutation(0);
  std::vector<int64_t> sorted = epoch0, identity(100);
  std::sort(sorted.begin(), sorted.end());
  std::iota(identity.begin(), identity.end(), int64_t{0});
  CHECK(sorted == identity);
  CHECK(epoch0 != identity);
  CHECK(order.permutation(1) != epoch0);
  CHECK(BatchOrder(100, 8, 42).permutation(0) == epoch0);
  CHECK(BatchOrder(100, 32, 42).permutation(3) ==
        order.permutation(3));  // batch size plays no part
  CHECK(BatchOrder(100, 8, 43).permutation(0) != epoch0);
  CHECK(BatchOrder(1, 1, 42).permutation(0) == std::vector<int64_t>{0});
}

TEST_CASE("text: BatchOrder takes each example once per epoch, the last batch shorter") {
  BatchOrder order(10, 4, 7);
  CHECK(order.steps_per_epoch() == 3);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    std::vector<int64_t> taken;
    for (const std::size_t size : {4, 4, 2}) {
      const std::vector<int64_t> batch = order.next();
      CHECK(batch.size() == size);
      taken.insert(taken.end(), batch.begin(), batch.end());
    }
    CHECK(taken == order.permutation(epoch));
    CHECK(order.position() == BatchPosition{epoch, 3});
  }
  CHECK(order.next().size() == 4);
  CHECK(order.position() == BatchPosition{2, 1});
  check_error([] { BatchOrder(0, 4, 1); }, {"dataset_size", "0"});
  check_error([] { BatchOrder(4, 0, 1); }, {"batch_size", "0"});
}

TEST_CASE("text: BatchOrder with lengths buckets: each batch of about one length, all once") {
  // 1000 examples of lengths 1..500 in a scrambled order; batches of 8, pools of 32 batches.
  std::vector<int64_t> lengths(1000);
  for (std::size_t i = 0; i < lengths.size(); ++i)
    lengths[i] = static_cast<int64_t>((i * 7919) % 500 + 1);
  text::BatchOrder order(1000, 8, 3, lengths), plain(1000, 8, 3);
  int64_t padded = 0, padded_plain = 0;
  std::vector<int> seen(1000, 0);
  std::vector<int64_t> first_lengths;
  for (int64_t step = 0; step < order.steps_per_epoch(); ++step) {
    const std::vector<int64_t> batch = order.next(), plain_batch = plain.next();
    const auto longest = [&](const std::vector<int64_t>& rows) {
      int64_t most = 0;
      for (const int64_t i : rows) most = std::max(most, lengths[static_cast<std::size_t>(i)]);
      return most * static_cast<int64_t>(rows.size());
    };
    padded += longest(batch);
    padded_plain += longest(plain_batch);
    for (const int64_t i : batch) ++seen[static_cast<std::size_t>(i)];
    first_lengths.push_back(lengths[static_cast<std::size_t>(batch.front())]);
  }
  CHECK(std::all_of(seen.begin(), seen.end(), [](int count) { return count == 1; }));
  CHECK(padded < padded_plain * 6 / 10);  // pools of 256 of lengths 1..500: little padding left
  CHECK(!std::is_sorted(first_lengths.begin(), first_lengths.end()));  // batches shuffled
  text::BatchOrder again(1000, 8, 3, lengths);
  CHECK(again.permutation(2) == order.permutation(2));
  CHECK(order.permutation(1) != order.permutation(2));
  CHECK_THROWS_WITH_AS(text::BatchOrder(10, 4, 0, {1, 2, 3}),
                       doctest::Contains("3 lengths for 10 examples"), Error);
}

TEST_CASE("text: BatchOrder resumes exactly at a saved position") {
  BatchOrder original(23, 5, 2024);
  for (int step = 0; step < 7; ++step) original.next();  // into epoch 1
  const BatchPosition saved = original.position();
  CHECK(saved == BatchPosition{1, 2});
  std::vector<std::vector<int64_t>> expected;
  for (int step = 0; step < 9; ++step) expected.push_back(original.next());

  BatchOrder resumed(23, 5, 2024);
  resumed.next();  // a fresh run's own state must not leak into the resumed one
  resumed.seek(saved);
  for (const auto& batch : expected) CHECK(resumed.next() == batch);
  CHECK(resumed.position() == original.position());

  BatchOrder at_epoch_end(23, 5, 2024);
  at_epoch_end.seek({0, 5});  // the end of epoch 0 is the start of epoch 1
  const std::vector<int64_t> epoch1 = at_epoch_end.permutation(1);
  CHECK(at_epoch_end.next() == std::vector<int64_t>(epoch1.begin(), epoch1.begin() + 5));
}

TEST_CASE("text: BatchOrder seek rejects positions outside the run") {
  BatchOrder order(23, 5, 1);
  check_error([&] { order.seek({0, 6}); }, {"BatchOrder::seek", "step 6", "[0, 5]"});
  check_error([&] { order.seek({-1, 0}); }, {"epoch -1"});
  check_error([&] { order.seek({0, -1}); }, {"step -1"});
  CHECK(order.position() == BatchPosition{0, 0});
}

// The corpus listing.

namespace {

// A corpus of 3 groups: ham (12 messages), spam (10) and hard (2), each file holding its id, with
// a .json twin per message as in the npm package (to be ignored).
std::vector<CorpusGroup> write_tiny_corpus(const testing::ScratchDirectory& scratch) {
  const std::vector<CorpusGroup> groups = {
      {"ham", 0, 12, false}, {"spam", 1, 10, false}, {"hard", 0, 2, true}};
  for (const CorpusGroup& group : groups)
    for (int64_t i = group.count; i >= 1; --i) {
      const std::string id = fmt::format("{:05}.{}", i, group.name);
      scratch.write(group.name + "/" + id + ".txt", id);
      scratch.write(group.name + "/" + id + ".json", "{}");
    }
  return groups;
}

}  // namespace

TEST_CASE("text: list_corpus lists ids, labels and splits, hard groups in none") {
  const testing::ScratchDirectory scratch;
  const std::vector<CorpusGroup> groups = write_tiny_corpus(scratch);
  const std::vector<Message> messages = list_corpus(scratch.path(), groups);
  REQUIRE(messages.size() == 24);
  CHECK(messages[0].id == "00001.ham");
  CHECK(messages[11].id == "00012.ham");  // sorted by id within the group
  CHECK(messages[12].id == "00001.spam");
  CHECK(messages[23].id == "00002.hard");
  std::vector<LabeledId> pooled;
  for (const Message& message : messages) {
    INFO(message.id);
    const std::string group = message.id.substr(6);
    CHECK(message.group == group);
    CHECK(message.label == (group == "spam" ? 1 : 0));
    CHECK(message.path == scratch.path() / group / (message.id + ".txt"));
    CHECK(message.hard() == (group == "hard"));
    if (!message.hard()) pooled.push_back({message.id, message.label});
  }
  const std::vector<Split> splits = assign_splits(pooled);
  for (std::size_t i = 0; i < splits.size(); ++i) CHECK(messages[i].split == splits[i]);
  const auto count = [&](Split split) {
    return std::count_if(messages.begin(), messages.end(),
                         [&](const Message& m) { return m.split == split; });
  };
  CHECK(count(Split::Train) == 10 + 8);  // k = n / 10 per label: ham 12 -> 1, 1; spam 10 -> 1, 1
  CHECK(count(Split::Dev) == 2);
  CHECK(count(Split::Test) == 2);
}

TEST_CASE("text: list_corpus names the folder when a group is missing or its count is off") {
  const testing::ScratchDirectory scratch;
  std::vector<CorpusGroup> groups = write_tiny_corpus(scratch);
  check_error([&] { list_corpus(scratch.path()); },  // the real corpus's five groups
              {(scratch.path() / "easy-ham-1").string(), "fetch_data.sh"});
  groups[1].count = 11;
  check_error([&] { list_corpus(scratch.path(), groups); },
              {(scratch.path() / "spam").string(), "holds 10 .txt files, expected 11"});
  groups[1].count = 10;
  std::filesystem::remove(scratch.path() / "hard" / "00001.hard.txt");
  check_error([&] { list_corpus(scratch.path(), groups); },
              {(scratch.path() / "hard").string(), "holds 1 .txt files, expected 2"});
  const std::vector<CorpusGroup> real = spamassassin_groups();
  REQUIRE(real.size() == 5);
  int64_t total = 0;
  for (const CorpusGroup& group : real) {
    total += group.count;
    CHECK(group.label == (group.name.starts_with("spam-") ? 1 : 0));
    CHECK(group.hard == (group.name == "hard-ham-1"));
  }
  CHECK(total == 6046);
}
