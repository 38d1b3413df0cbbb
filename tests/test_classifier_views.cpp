// The sentence classifier's pieces beyond the model: the views of a mail it trains on, the
// temperature that calibrates it and the error that measures calibration, the explanation of a
// prediction, and the tools run as a user runs them (--json parsed back, bad input refused).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <sstream>

#include "autograd/io/atomic_file.hpp"
#include "examples/common/batching.hpp"
#include "examples/common/calibration.hpp"
#include "examples/common/mail_views.hpp"
#include "examples/common/spam_prediction.hpp"
#include "examples/common/tokenizer.hpp"
#include "tests/spam_testing.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;

namespace {

text::Vocabulary vocabulary_of(const std::string& words) {
  return text::Vocabulary::build({text::tokenize(words)});
}

}  // namespace

TEST_CASE("views: whole is encode_message, subject is the subject, a span is a run of the body") {
  const text::Vocabulary vocabulary = vocabulary_of("win cash now meeting at noon the agenda");
  const std::string subject = "Win cash NOW", body = "meeting at noon, the agenda: unknownword";
  const text::SpamModelConfig config{.vocab_size = vocabulary.size(), .max_len = 5};
  const text::EncodedMail mail = text::encode_mail(
      vocabulary, text::tokenize(subject), text::tokenize_mail("", body, config.body_words));
  CHECK(text::whole_view(mail, config.max_len) ==
        text::encode_message(vocabulary, config, subject, body).ids);
  CHECK(text::whole_view(mail, 2) == std::vector<int64_t>{mail.subject[0], mail.subject[1]});
  CHECK(text::subject_view(mail, 8) == mail.subject);
  CHECK(mail.subject.size() == 3);
  CHECK(mail.body.back() == text::Vocabulary::kUnk);

  Generator generator(7);
  for (int draw = 0; draw < 50; ++draw) {
    const text::BodySpan span =
        text::body_span_view(mail, {.min_length = 2, .max_length = 4}, generator);
    REQUIRE(span.ids.size() >= 2);
    REQUIRE(span.ids.size() <= 4);
    const auto at =
        std::search(mail.body.begin(), mail.body.end(), span.ids.begin(), span.ids.end());
    REQUIRE(at != mail.body.end());  // consecutive body ids...
    std::string text;                // ...and their tokens, joined by spaces
    for (auto id = at; id != at + static_cast<std::ptrdiff_t>(span.ids.size()); ++id)
      text += (text.empty() ? "" : " ") +
              mail.body_tokens[static_cast<std::size_t>(id - mail.body.begin())];
    CHECK(span.text == text);
  }
  Generator again(7), other(7);
  CHECK(text::body_span_view(mail, {}, again).ids == text::body_span_view(mail, {}, other).ids);
  const text::EncodedMail no_body{mail.subject, {}, {}};
  CHECK(text::body_span_view(no_body, {}, generator).ids.empty());
  const text::BodySpan all = text::body_span_view(mail, {.min_length = 10, .max_length = 20},
                                                  generator);  // shorter than the span: all of it
  CHECK(all.ids == mail.body);
  CHECK(all.text == "meeting at noon the agenda unknownword");
  CHECK_THROWS_WITH_AS(text::body_span_view(mail, {.min_length = 3, .max_length = 2}, generator),
                       doctest::Contains("min_length <= max_length"), Error);
}

TEST_CASE("calibration: a fitted temperature lowers the NLL of an over-confident model") {
  // Labels drawn from σ(z), margins 3z: a model three times too sure of itself.
  Generator generator(3);
  std::vector<double> margins;
  std::vector<int> labels;
  for (int i = 0; i < 4000; ++i) {
    const double z = 4 * generator.normal();
    labels.push_back(generator.uniform() < report::spam_probability(z, 1) ? 1 : 0);
    margins.push_back(3 * z);
  }
  const double temperature = report::fit_temperature(margins, labels);
  CHECK(temperature == doctest::Approx(3).epsilon(0.1));
  const double fitted = report::binary_nll(margins, labels, temperature);
  CHECK(fitted < report::binary_nll(margins, labels, 1.0) - 0.05);
  CHECK(fitted <= report::binary_nll(margins, labels, temperature * 1.01));  // a minimum
  CHECK(fitted <= report::binary_nll(margins, labels, temperature / 1.01));

  // Margins that separate the labels: the NLL falls as T does, so T is the smallest allowed.
  CHECK(report::fit_temperature(std::vector<double>{-2, 3}, std::vector<int>{0, 1}) ==
        report::kMinTemperature);
  CHECK_THROWS_WITH_AS(report::fit_temperature(std::vector<double>{1}, std::vector<int>{2}),
                       doctest::Contains("neither 0 nor 1"), Error);
  CHECK_THROWS_AS(report::fit_temperature({}, {}), Error);
}

TEST_CASE("calibration: expected calibration error of a hand-computed case") {
  // p      label  predicted  confidence  bin of 15
  // 0.9    1      spam       0.9         13  } accuracy 1/2, confidence 0.9
  // 0.9    0      spam       0.9         13  }
  // 0.25   0      ham        0.75        11    accuracy 1,   confidence 0.75
  // 0.6    1      spam       0.6         8     accuracy 1,   confidence 0.6
  // ECE = 2/4·|0.5 − 0.9| + 1/4·|1 − 0.75| + 1/4·|1 − 0.6| = 0.2 + 0.0625 + 0.1 = 0.3625
  const std::vector<double> p = {0.9, 0.9, 0.25, 0.6};
  const std::vector<int> labels = {1, 0, 0, 1};
  CHECK(report::expected_calibration_error(p, labels) == doctest::Approx(0.3625).epsilon(1e-12));
  // One bin: |accuracy − mean confidence| = |3/4 − (0.9 + 0.9 + 0.75 + 0.6)/4|.
  CHECK(report::expected_calibration_error(p, labels, 1) == doctest::Approx(0.0375));
  CHECK(report::expected_calibration_error(std::vector<double>{1.0, 0.0}, std::vector<int>{1, 0}) ==
        0.0);
}

TEST_CASE("calibration: calibration.json round-trips and bad values name the file and key") {
  const testing::ScratchDirectory dir;
  const report::Calibration calibration{.temperature = 1.75, .threshold = 0.6, .prior_spam = 0.3};
  report::save_calibration(calibration, dir / "calibration.json");
  const report::Calibration back = report::load_calibration(dir / "calibration.json");
  CHECK(back.temperature == 1.75);
  CHECK(back.threshold == 0.6);
  CHECK(back.prior_spam == 0.3);
  const auto path =
      dir.write("bad.json", R"({"temperature": 0, "threshold": 0.5, "prior_spam": 0.3})");
  CHECK_THROWS_WITH_AS(report::load_calibration(path),
                       doctest::Contains("'temperature' is 0, not in [0.05, 100]"), Error);
}

namespace {

// A run directory of a tiny model trained on sentences of five filler words where one word
// decides: "zap" somewhere in the sentence makes it spam, and nothing else does.
class OneWordRun {
 public:
  OneWordRun() {
    manual_seed(2);
    Generator generator(2);
    const std::vector<std::string> filler = {"the", "a",    "today", "please", "your",
                                             "for", "meet", "lunch", "report", "now"};
    std::vector<std::vector<std::string>> sentences;
    std::vector<int> labels;
    for (int i = 0; i < 400; ++i) {
      std::vector<std::string> words;
      for (int w = 0; w < 5; ++w) words.push_back(filler[generator.next_u64() % filler.size()]);
      labels.push_back(i % 2);
      if (labels.back() == 1) words[generator.next_u64() % words.size()] = "zap";
      sentences.push_back(words);
    }
    const text::Vocabulary vocabulary = text::Vocabulary::build(sentences);
    const text::SpamModelConfig config = testing::tiny_spam_config(vocabulary.size());
    std::vector<std::vector<int64_t>> ids;
    for (const auto& words : sentences) ids.push_back(vocabulary.encode(words, config.max_len));
    text::SpamClassifier model(config);
    testing::train_tiny(model, testing::token_inputs(ids), labels, 4, 2);
    vocabulary.save(dir_ / "vocabulary.json");
    write_file_atomically(dir_ / "config.json", text::to_json(config).dump());
    model.save(dir_ / "model.safetensors");
    report::save_calibration({.temperature = 2.0, .threshold = 0.5, .prior_spam = 0.25},
                             dir_ / "calibration.json");
  }
  const std::filesystem::path& path() const { return dir_.path(); }

 private:
  testing::ScratchDirectory dir_;
};

const OneWordRun& one_word_run() {
  static const OneWordRun run;
  return run;
}

}  // namespace

TEST_CASE("explain: the word that decides weighs most, toward spam") {
  text::TrainedSpamModel trained = text::load_trained_spam_model(one_word_run().path());
  const text::SpamPrediction spam = text::predict_spam(trained, "please zap the report", 3);
  CHECK(spam.label == "spam");
  REQUIRE(!spam.reasons.empty());
  CHECK(spam.reasons.front().token == "zap");
  CHECK(spam.reasons.front().weight > 0);
  // A weight is the margin with the word less the margin without it; the run's T = 2 gives
  // margin = 2 · logit(p).
  const auto margin = [](double p) { return 2 * std::log(p / (1 - p)); };
  const text::SpamPrediction without = text::predict_spam(trained, "please  the report");
  CHECK(spam.reasons.front().weight ==
        doctest::Approx(margin(spam.p_spam) - margin(without.p_spam)).epsilon(1e-6));
  const text::SpamPrediction ham = text::predict_spam(trained, "please meet the report", 3);
  CHECK(ham.label == "ham");
  for (const text::TokenWeight& reason : ham.reasons) CHECK(reason.weight < 0);  // toward ham
  // The calibrated probability is σ(margin / T) with the run's T = 2: less sure than T = 1.
  CHECK(spam.p_spam > 0.5);
  CHECK(spam.p_spam < 1);
}

TEST_CASE("predict: a text with no known word gets the prior and the label unknown") {
  text::TrainedSpamModel trained = text::load_trained_spam_model(one_word_run().path());
  for (const std::string text : {"", "   ", "xyzzy plugh", "!!!"}) {
    const text::SpamPrediction prediction = text::predict_spam(trained, text, 3);
    CHECK(prediction.label == "unknown");
    CHECK(prediction.p_spam == 0.25);
    CHECK(prediction.known_tokens == 0);
    CHECK(prediction.reasons.empty());
    CHECK(text::format_prediction(prediction).find("prior") != std::string::npos);
  }
}

#ifdef TAPEGRAD_PREDICT_CLASSIFIER
TEST_CASE("predict_classifier: --json prints one object a line that parses back") {
  const std::string command = fmt::format(
      "printf 'please zap the report\\nplease meet the report\\n\\n' | '{}' --run '{}' --json "
      "--explain=2",
      TAPEGRAD_PREDICT_CLASSIFIER, one_word_run().path().string());
  const testing::ToolRun run = testing::run_tool(command);
  REQUIRE(run.exit_code == 0);
  std::istringstream lines(run.output);
  std::vector<nlohmann::json> objects;
  for (std::string line; std::getline(lines, line);) objects.push_back(nlohmann::json::parse(line));
  REQUIRE(objects.size() == 3);
  CHECK(objects[0]["text"] == "please zap the report");
  CHECK(objects[0]["label"] == "spam");
  CHECK(objects[0]["reasons"][0]["token"] == "zap");
  CHECK(objects[1]["label"] == "ham");
  CHECK(objects[2]["text"] == "");
  CHECK(objects[2]["label"] == "unknown");
  CHECK(objects[2]["p_spam"] == 0.25);
  for (const nlohmann::json& object : objects) {
    CHECK(object["p_spam"].get<double>() >= 0);
    CHECK(object["p_spam"].get<double>() <= 1);
  }
}

TEST_CASE("predict_classifier: --int8 keeps the labels of the float model, and explains them") {
  // The JSON lines on stdout; on stderr, where this CPU has no fast int8 kernel, a warning.
  const auto predict = [&](const std::string& flags, std::string_view streams = "") {
    return testing::run_tool(
        fmt::format("'{}' --run '{}' {} --json 'please zap the report' 'please meet the report' {}",
                    TAPEGRAD_PREDICT_CLASSIFIER, one_word_run().path().string(), flags, streams));
  };
  const testing::ToolRun warned = predict("--int8", "2>&1 >/dev/null");
  const bool said_slower = warned.output.find("slower than float32") != std::string::npos;
  CHECK(said_slower == nn::int8_speed_warning().has_value());
  const testing::ToolRun float_run = predict(""), int8_run = predict("--int8");
  REQUIRE(int8_run.exit_code == 0);
  std::istringstream float_lines(float_run.output), int8_lines(int8_run.output);
  for (std::string float_line, int8_line;
       std::getline(float_lines, float_line) && std::getline(int8_lines, int8_line);) {
    const nlohmann::json as_float = nlohmann::json::parse(float_line),
                         as_int8 = nlohmann::json::parse(int8_line);
    CHECK(as_int8["label"] == as_float["label"]);
    CHECK(std::abs(as_int8["p_spam"].get<double>() - as_float["p_spam"].get<double>()) < 0.05);
  }
  const testing::ToolRun explained = predict("--int8 --explain=1");
  REQUIRE(explained.exit_code == 0);
  CHECK(nlohmann::json::parse(explained.output.substr(
            0, explained.output.find('\n')))["reasons"][0]["token"] == "zap");
}

TEST_CASE("predict_classifier: bad input is a message and exit code 1, never an abort") {
  const testing::ScratchDirectory dir;
  for (const char* file :
       {"config.json", "vocabulary.json", "model.safetensors", "calibration.json"})
    std::filesystem::copy_file(one_word_run().path() / file, dir / file);
  const auto predict = [&](const std::string& run_dir) {
    return testing::run_tool(
        fmt::format("'{}' --run '{}' hello 2>&1", TAPEGRAD_PREDICT_CLASSIFIER, run_dir));
  };
  const auto refused = [&](const testing::ToolRun& run, const std::string& says) {
    INFO(run.output);
    CHECK(run.exit_code == 1);
    CHECK(run.output.starts_with("predict_classifier: "));
    CHECK(run.output.find(says) != std::string::npos);
    CHECK(run.output.find("terminate called") == std::string::npos);
  };
  refused(predict((dir / "missing").string()), "no run directory");
  dir.write("config.json", "{\"vocab_size\": ");
  refused(predict(dir.path().string()), "config.json");
  std::filesystem::copy_file(one_word_run().path() / "config.json", dir / "config.json",
                             std::filesystem::copy_options::overwrite_existing);
  const std::string model = read_file(dir / "model.safetensors");
  dir.write("model.safetensors", model.substr(0, model.size() / 2));
  refused(predict(dir.path().string()), "model.safetensors");
  std::filesystem::remove(dir / "calibration.json");
  dir.write("model.safetensors", model);
  refused(predict(dir.path().string()), "calibration.json");
}

TEST_CASE(
    "attention_walkthrough: a sentence with no word, or a heatmap it cannot write, is a message") {
  const testing::ScratchDirectory dir;
  const testing::ToolRun empty =
      testing::run_tool(fmt::format("'{}' --sentence '!!' --svg '{}' 2>&1",
                                    TAPEGRAD_ATTENTION_WALKTHROUGH, (dir / "a.svg").string()));
  INFO(empty.output);
  CHECK(empty.exit_code == 1);
  CHECK(empty.output.find("attention_walkthrough: --sentence \"!!\" has 0 words") !=
        std::string::npos);
  const testing::ToolRun unwritable =
      testing::run_tool(fmt::format("'{}' --svg '{}' 2>&1", TAPEGRAD_ATTENTION_WALKTHROUGH,
                                    (dir / "no-such-folder" / "a.svg").string()));
  INFO(unwritable.output);
  CHECK(unwritable.exit_code == 1);
  CHECK(unwritable.output.find("attention_walkthrough: ") != std::string::npos);
  CHECK(unwritable.output.find("terminate called") == std::string::npos);
}

TEST_CASE("train_classifier: a value out of range is refused with readable bounds") {
  const testing::ToolRun run =
      testing::run_tool(fmt::format("'{}' --lr -1 2>&1", TAPEGRAD_TRAIN_CLASSIFIER));
  INFO(run.output);
  CHECK(run.exit_code != 0);
  CHECK(run.output.find("must be > 0, got -1") != std::string::npos);
  const testing::ToolRun dropout =
      testing::run_tool(fmt::format("'{}' --dropout 2 2>&1", TAPEGRAD_TRAIN_CLASSIFIER));
  CHECK(dropout.output.find("must be in [0, 0.9], got 2") != std::string::npos);
  const testing::ToolRun missing = testing::run_tool(fmt::format(
      "'{}' --data-dir /nonexistent --out /nonexistent/run 2>&1", TAPEGRAD_TRAIN_CLASSIFIER));
  INFO(missing.output);
  CHECK(missing.exit_code == 1);
  CHECK(missing.output.starts_with("train_classifier: "));
}
#endif
