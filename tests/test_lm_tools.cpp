// The language-model tools run as a user runs them, in seconds, on a tiny synthetic corpus of
// fortunes (no download): train_lm end to end, its resume after an interruption (the very same
// weights), generate's --json output and heatmap, prune_lm's table and pruned run, and bad flags
// refused with a message.
#include <doctest/doctest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "autograd/io/atomic_file.hpp"
#include "tests/testing.hpp"

#ifdef TAPEGRAD_TRAIN_LM
using namespace tapegrad;

namespace {

// 400 short sentences from a small grammar, one fortune each, in one file as the fortune
// packages write them (separated by lines holding '%').
std::string synthetic_fortunes() {
  const std::vector<std::string> subjects = {"The cat", "A dog", "My friend", "The old man",
                                             "Nobody"};
  const std::vector<std::string> verbs = {"sees", "likes", "eats", "finds", "wants"};
  const std::vector<std::string> objects = {"the moon.", "a red apple.", "some bread.", "the sea.",
                                            "a good book."};
  Generator generator(7);
  const auto pick = [&](const std::vector<std::string>& words) {
    return words[generator.below(words.size())];
  };
  std::string text;
  for (int i = 0; i < 400; ++i)
    text += pick(subjects) + " " + pick(verbs) + " " + pick(objects) + "\n%\n";
  return text;
}

// The flags of a tiny run: 60 steps of 4 windows of 32 bytes, evaluated at steps 30 and 60.
std::string tiny_run_flags(const testing::ScratchDirectory& corpus,
                           const std::filesystem::path& run) {
  return fmt::format(
      "--data-dir '{}' --run '{}' --steps 60 --eval-every 30 --warmup-steps 2 --batch-size 4 "
      "--context 32 --d-model 16 --heads 2 --layers 2 --lr 1e-2 --threads 1 --samples 1 "
      "--sample-tokens 16",
      corpus.path().string(), run.string());
}

// A corpus directory and one uninterrupted tiny run in it, made once for the tests that read it.
class TinyRun {
 public:
  TinyRun() {
    corpus_.write("fortunes", synthetic_fortunes());
    result_ = testing::run_tool(
        fmt::format("'{}' {} 2>&1", TAPEGRAD_TRAIN_LM, tiny_run_flags(corpus_, path())));
  }
  const testing::ScratchDirectory& corpus() const { return corpus_; }
  std::filesystem::path path() const { return runs_ / "uninterrupted"; }
  const testing::ToolRun& result() const { return result_; }

 private:
  testing::ScratchDirectory corpus_, runs_;
  testing::ToolRun result_;
};

const TinyRun& tiny_run() {
  static const TinyRun run;
  return run;
}

nlohmann::json read_json(const std::filesystem::path& path) {
  return nlohmann::json::parse(read_file(path));
}

void check_refused(const testing::ToolRun& run, const std::string& tool, const std::string& says) {
  INFO(run.output);
  CHECK(run.exit_code == 1);
  CHECK(run.output.starts_with(tool + ": "));
  CHECK(run.output.find(says) != std::string::npos);
  CHECK(run.output.find("terminate called") == std::string::npos);
}

}  // namespace

TEST_CASE("train_lm: a tiny corpus end to end, the run directory complete, the loss below chance") {
  const TinyRun& run = tiny_run();
  INFO(run.result().output);
  REQUIRE(run.result().exit_code == 0);
  CHECK(run.result().output.find("val bits/byte") != std::string::npos);
  CHECK(run.result().output.find("--- sample 1 ---") != std::string::npos);
  for (const char* file :
       {"config.json", "model.safetensors", "metrics.json", "curves.svg", "checkpoint.safetensors"})
    CHECK(std::filesystem::exists(run.path() / file));
  const nlohmann::json metrics = read_json(run.path() / "metrics.json");
  CHECK(metrics["steps"] == 60);
  CHECK(metrics["curves"]["step"] == std::vector<double>{30, 60});
  // A uniform guess over 256 bytes is 8 bits per byte; 60 steps on this grammar learn its letters.
  const double bits = metrics["val_bits_per_byte"].get<double>();
  CHECK(bits < 4.5);
  CHECK(bits == doctest::Approx(metrics["val_loss"].get<double>() / std::log(2.0)));
  CHECK(read_json(run.path() / "config.json")["tokens"] == "bytes");
}

TEST_CASE("train_lm: a run interrupted and resumed ends with the very same weights and curves") {
  const TinyRun& reference = tiny_run();
  REQUIRE(reference.result().exit_code == 0);
  // Interrupted within an evaluation's steps (17), at an evaluation's step before it ran (30), and
  // with checkpoints at every step besides (43).
  for (const char* interruption : {"--stop-after-step 17", "--stop-after-step 30",
                                   "--stop-after-step 43 --checkpoint-every 1"}) {
    CAPTURE(interruption);
    const testing::ScratchDirectory runs;
    const std::string flags = tiny_run_flags(reference.corpus(), runs / "run");
    const testing::ToolRun stopped =
        testing::run_tool(fmt::format("'{}' {} {} 2>&1", TAPEGRAD_TRAIN_LM, flags, interruption));
    INFO(stopped.output);
    REQUIRE(stopped.exit_code == 0);
    CHECK(!std::filesystem::exists(runs / "run" / "model.safetensors"));
    const testing::ToolRun resumed =
        testing::run_tool(fmt::format("'{}' {} --resume 2>&1", TAPEGRAD_TRAIN_LM, flags));
    INFO(resumed.output);
    REQUIRE(resumed.exit_code == 0);
    CHECK(resumed.output.find("resumed from") != std::string::npos);
    CHECK(read_file(runs / "run" / "model.safetensors") ==
          read_file(reference.path() / "model.safetensors"));
    const nlohmann::json curves = read_json(runs / "run" / "metrics.json")["curves"],
                         expected = read_json(reference.path() / "metrics.json")["curves"];
    for (const char* curve : {"step", "train_loss", "val_loss", "val_bits_per_byte"})
      CHECK(curves[curve] == expected[curve]);
  }
}

TEST_CASE("train_lm: --resume under other settings is refused, naming the checkpoint") {
  const TinyRun& reference = tiny_run();
  const testing::ScratchDirectory runs;
  const std::string flags = tiny_run_flags(reference.corpus(), runs / "run");
  REQUIRE(
      testing::run_tool(fmt::format("'{}' {} --stop-after-step 3 2>&1", TAPEGRAD_TRAIN_LM, flags))
          .exit_code == 0);
  check_refused(
      testing::run_tool(fmt::format("'{}' {} --resume --seed 5 2>&1", TAPEGRAD_TRAIN_LM, flags)),
      "train_lm", "checkpoint.safetensors was written with the settings");
}

TEST_CASE("generate: --json prints one object that parses, and the same seed the same text") {
  const TinyRun& run = tiny_run();
  REQUIRE(run.result().exit_code == 0);
  const testing::ScratchDirectory dir;
  const auto generate = [&](const std::string& flags) {
    return testing::run_tool(fmt::format("'{}' --run '{}' --threads 1 {} 2>/dev/null",
                                         TAPEGRAD_GENERATE, run.path().string(), flags));
  };
  const std::string flags = fmt::format(
      "--json --do-sample --temperature 0.9 --top-k 20 --top-p 0.95 --repetition-penalty 1.1 "
      "--seed 3 --max-new-tokens 12 --attention '{}' 'The cat'",
      (dir / "attention.svg").string());
  const testing::ToolRun first = generate(flags);
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  const nlohmann::json result = nlohmann::json::parse(first.output);
  CHECK(result["prompt"] == "The cat");
  CHECK(result["prompt_tokens"] == 7);
  CHECK(result["new_tokens"] == 12);
  CHECK(result["text"].get<std::string>().size() == 12);
  CHECK(result["decode_tokens_per_second"].get<double>() > 0);
  CHECK(nlohmann::json::parse(generate(flags).output)["text"] == result["text"]);
  const std::string svg = read_file(dir / "attention.svg");
  CHECK(svg.find("<svg") != std::string::npos);
  CHECK(svg.find("head 2") != std::string::npos);  // the tiny model's two heads

  // Without --json, stdout is the prompt, the new text and a line end; --stop ends it at its first
  // 'e' (20 bytes fit the tiny model's 32 positions after the prompt).
  const testing::ToolRun plain = generate("--max-new-tokens 20 --stop e 'The cat'");
  INFO(plain.output);
  REQUIRE(plain.exit_code == 0);
  REQUIRE(plain.output.ends_with("\n"));
  REQUIRE(plain.output.starts_with("The cat"));
  const std::string text = plain.output.substr(7, plain.output.size() - 8);
  const std::size_t first_e = text.find('e');
  CHECK((first_e == std::string::npos ? text.size() == 20 : first_e + 1 == text.size()));
}

TEST_CASE("train_lm --window: saved in config.json, and generate reads the model with it") {
  const TinyRun& reference = tiny_run();
  const testing::ScratchDirectory runs;
  const testing::ToolRun trained =
      testing::run_tool(fmt::format("'{}' {} --window 8 2>&1", TAPEGRAD_TRAIN_LM,
                                    tiny_run_flags(reference.corpus(), runs / "run")));
  INFO(trained.output);
  REQUIRE(trained.exit_code == 0);
  CHECK(trained.output.find("window 8") != std::string::npos);
  CHECK(read_json(runs / "run" / "config.json")["window"] == 8);
  CHECK(read_file(runs / "run" / "model.safetensors") !=
        read_file(reference.path() / "model.safetensors"));
  const testing::ToolRun generated = testing::run_tool(
      fmt::format("'{}' --run '{}' --json --max-new-tokens 20 --attention '{}' 'The cat' 2>&1",
                  TAPEGRAD_GENERATE, (runs / "run").string(), (runs / "a.svg").string()));
  INFO(generated.output);
  REQUIRE(generated.exit_code == 0);
  CHECK(generated.output.find("\"new_tokens\":20") != std::string::npos);
  // The heatmap's 27 queries see 8 keys at most: per head, 27² - (1 + 2 + ... + 8 + 19 · 8) = 541
  // cells are 0 (causal attention alone would leave 27 · 26 / 2 = 351).
  const std::string svg = read_file(runs / "a.svg");
  std::size_t zeros = 0;
  for (std::size_t at = 0; (at = svg.find("= 0.0000</title>", at)) != std::string::npos; ++at)
    ++zeros;
  CHECK(zeros >= 2 * 541);
}

TEST_CASE("prune_lm: the table of a tiny run, and a pruned run that generate reads") {
  const TinyRun& reference = tiny_run();
  REQUIRE(reference.result().exit_code == 0);
  const testing::ScratchDirectory dir;
  const std::filesystem::path run = dir / "run", pruned = dir / "pruned";
  std::filesystem::copy(reference.path(), run);  // prune_lm writes pruning.json into the run
  const testing::ToolRun report = testing::run_tool(fmt::format(
      "'{}' --run '{}' --data-dir '{}' --dev-windows 4 --threads 1 --json --out '{}' 2>&1",
      TAPEGRAD_PRUNE_LM, run.string(), reference.corpus().path().string(), pruned.string()));
  INFO(report.output);
  REQUIRE(report.exit_code == 0);
  const nlohmann::json json = nlohmann::json::parse(report.output.substr(report.output.find('{')));
  CHECK(json == read_json(run / "pruning.json"));
  CHECK(std::filesystem::exists(run / "pruning.svg"));
  // 2 layers of 2 heads: 25% is one head, 50% two; 75% would leave a layer none, so it is 50%.
  const nlohmann::json& rows = json["rows"];
  REQUIRE(rows.size() == 11);  // float32, 3 x (importance, ablation, random), int8
  CHECK(rows[0]["model"] == "float32");
  CHECK(rows[0]["heads_kept"] == 4);
  CHECK(rows[4]["model"] == "importance");
  CHECK(rows[4]["heads_kept"] == 2);
  CHECK(rows[6]["model"] == "random");
  CHECK(rows[6]["every_choice"] == true);
  CHECK(rows[6]["choices"] == 4);  // one head of each layer: 2 x 2 ways
  CHECK(rows[10]["model"] == "int8");
  for (const nlohmann::json& row : rows) {
    const double bits = row["test_bits_per_byte"].get<double>();
    CHECK((bits > 0 && bits < 8));
    CHECK(bits == doctest::Approx(row["test_loss"].get<double>() / std::log(2.0)));
  }
  CHECK(rows[4]["parameters"].get<int64_t>() < rows[0]["parameters"].get<int64_t>());
  CHECK(json["pruned_by_ablation"].size() == 2);

  // The --out run: 50% pruned by ablation, listed in its config; generate reads it.
  const nlohmann::json config = read_json(pruned / "config.json");
  int64_t pruned_heads = 0;
  for (const auto& [layer, heads] : config["pruned_heads"].items()) pruned_heads += heads.size();
  CHECK(pruned_heads == 2);
  const testing::ToolRun generated =
      testing::run_tool(fmt::format("'{}' --run '{}' --json --max-new-tokens 8 'The cat' 2>&1",
                                    TAPEGRAD_GENERATE, pruned.string()));
  INFO(generated.output);
  REQUIRE(generated.exit_code == 0);
  CHECK(generated.output.find("\"new_tokens\":8") != std::string::npos);
  check_refused(
      testing::run_tool(fmt::format("'{}' --run '{}' --data-dir '{}' 2>&1", TAPEGRAD_PRUNE_LM,
                                    pruned.string(), reference.corpus().path().string())),
      "prune_lm", "its model has heads pruned already");
}

TEST_CASE("train_lm, generate and prune_lm: bad flags and files are a message and exit code 1") {
  const auto train_lm = [](const std::string& flags) {
    return testing::run_tool(fmt::format("'{}' {} 2>&1", TAPEGRAD_TRAIN_LM, flags));
  };
  check_refused(train_lm("--lr -1"), "train_lm", "--lr: must be > 0, got -1");
  check_refused(train_lm("--no-such-flag"), "train_lm", "--no-such-flag");
  const testing::ScratchDirectory empty;
  const std::string missing = (empty / "missing").string();
  check_refused(train_lm(fmt::format("--data-dir '{}'", missing)), "train_lm",
                fmt::format("--data-dir {}: no such directory", missing));
  check_refused(train_lm("--d-model 30 --heads 4"), "train_lm", "--heads 4 does not divide");
  check_refused(train_lm("--steps 10 --warmup-steps 10"), "train_lm", "--warmup-steps 10");
  check_refused(train_lm("--window -1"), "train_lm", "--window: must be >= 0, got -1");

  const auto generate = [](const std::string& flags) {
    return testing::run_tool(fmt::format("'{}' {} 2>&1", TAPEGRAD_GENERATE, flags));
  };
  const std::string run = tiny_run().path().string();
  check_refused(generate(fmt::format("--run '{}' hi", missing)), "generate",
                fmt::format("--run {}: no run directory", missing));
  check_refused(generate(fmt::format("--run '{}' --top-p 2 hi", run)), "generate", "--top-p");
  check_refused(generate(fmt::format("--run '{}' --temperature x hi", run)), "generate",
                "--temperature");
  check_refused(generate(fmt::format("--run '{}' '{}'", run, std::string(40, 'a'))), "generate",
                "the prompt has 40 bytes");
  const testing::ScratchDirectory broken;
  broken.write("config.json", "{\"tokens\": \"bytes\"}");
  check_refused(generate(fmt::format("--run '{}' hi", broken.path().string())), "generate",
                "config.json");

  const auto prune_lm = [](const std::string& flags) {
    return testing::run_tool(fmt::format("'{}' {} 2>&1", TAPEGRAD_PRUNE_LM, flags));
  };
  check_refused(prune_lm(fmt::format("--run '{}'", missing)), "prune_lm",
                fmt::format("--run {}: no run directory", missing));
  check_refused(prune_lm(fmt::format("--run '{}' --out-criterion size", run)), "prune_lm",
                "--out-criterion");
  const testing::ScratchDirectory few;  // two fortunes: no validation text to speak of
  few.write("fortunes", "A cat.\n%\nA dog.\n%\n");
  check_refused(prune_lm(fmt::format("--run '{}' --data-dir '{}'", run, few.path().string())),
                "prune_lm", "too short for 64 dev windows");
}
#endif
