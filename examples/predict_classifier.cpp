// Classifies sentences (or whole mails) with a trained run of train_classifier: each argument, or
// each line of standard input, is one text. Prints the label, the calibrated spam probability and
// the text; --json prints one JSON object a line instead; --explain adds the words that weigh
// most toward the label; --attention writes the first layer's attention, one panel per head, for
// the first text; --int8 runs the model's Linear layers in int8 (nn::quantize_dynamic).
#include <CLI/CLI.hpp>
#include <tapegrad/tapegrad.hpp>

#include <iostream>

#include "autograd/io/atomic_file.hpp"
#include "examples/common/batching.hpp"
#include "examples/common/cli_checks.hpp"
#include "examples/common/plots.hpp"
#include "examples/common/spam_prediction.hpp"

using namespace tapegrad;

namespace {

struct Flags {
  std::string run_dir = "runs/classifier";
  std::string attention_svg;
  bool json = false;
  bool int8 = false;
  int explain = 0;
  std::vector<std::string> texts;
};

// The first layer's attention over `text`, one panel per head, as an SVG file.
void write_attention(text::TrainedSpamModel& trained, const std::string& text,
                     const std::string& path) {
  NoGradGuard no_grad;
  const std::vector<text::ModelInput> ids = {
      text::encode_message(trained.vocabulary, trained.config, "", text)};
  const int64_t first = 0;
  const text::Batch batch = text::make_batch(ids, {0}, {&first, 1});
  std::vector<std::string> tokens;
  for (double id : batch.ids.to_vector())
    tokens.push_back(trained.vocabulary.token(static_cast<int64_t>(id)));
  const Tensor weights = trained.model->first_layer_attention(batch.ids, batch.mask).squeeze(0);
  write_file_atomically(
      path, report::svg_attention_heatmap(tokens, tokens, weights, "first layer attention"));
  fmt::print(stderr, "wrote {} ({} heads, {} tokens)\n", path, weights.size(0), tokens.size());
}

void predict(const Flags& flags) {
  text::TrainedSpamModel trained = text::load_trained_spam_model(flags.run_dir);
  if (flags.int8) {
    nn::quantize_dynamic(*trained.model);
    if (const auto warning = nn::int8_speed_warning())
      fmt::print(stderr, "predict_classifier: {}\n", *warning);
  }
  std::vector<std::string> texts = flags.texts;
  if (texts.empty())
    for (std::string line; std::getline(std::cin, line);) texts.push_back(line);
  for (const std::string& text : texts) {
    const text::SpamPrediction prediction = text::predict_spam(trained, text, flags.explain);
    fmt::print("{}\n",
               flags.json ? text::to_json(prediction).dump() : text::format_prediction(prediction));
  }
  if (!flags.attention_svg.empty() && !texts.empty())
    write_attention(trained, texts.front(), flags.attention_svg);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"Classify sentences as spam or ham with a trained run of train_classifier"};
  app.add_option("--run", flags.run_dir,
                 "run directory (config.json, vocabulary.json, model.safetensors, "
                 "calibration.json)");
  app.add_flag("--json", flags.json,
               "one JSON object a line: {\"text\", \"label\", \"p_spam\"} (and \"reasons\")");
  app.add_flag(
         "--explain{5}", flags.explain,
         "list the words that weigh most toward the label (the margin lost without each): 5, or N "
         "with --explain=N")
      ->check(text::in_range(1, 100));
  app.add_flag("--int8", flags.int8,
               "run the Linear layers in int8 (weights per channel, activations per row)");
  app.add_option("--attention", flags.attention_svg,
                 "write the first text's first-layer attention heatmap (SVG)");
  app.add_option("texts", flags.texts, "texts to classify; none: one per line of stdin");
  CLI11_PARSE(app, argc, argv);
  try {
    predict(flags);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "predict_classifier: {}\n", e.what());
    return 1;
  }
}
