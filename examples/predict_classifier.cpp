// Classifies sentences with a trained run of train_classifier: each argument (or each line of
// standard input) is read as the text of a mail. Prints the label and the spam probability;
// --attention writes the first layer's attention, one panel per head, for the first sentence.
#include <CLI/CLI.hpp>
#include <tapegrad/tapegrad.hpp>

#include <iostream>

#include "autograd/io/atomic_file.hpp"
#include "examples/common/batching.hpp"
#include "examples/common/plots.hpp"
#include "examples/common/spam_model.hpp"

using namespace tapegrad;

int main(int argc, char** argv) {
  std::string run_dir = "runs/classifier", attention_svg;
  std::vector<std::string> sentences;
  CLI::App app{"Classify sentences as spam or ham with a trained run of train_classifier"};
  app.add_option("--run", run_dir,
                 "run directory (config.json, vocabulary.json, model.safetensors)");
  app.add_option("--attention", attention_svg,
                 "write the first sentence's attention heatmap (SVG)");
  app.add_option("sentences", sentences, "sentences to classify; none: one per line of stdin");
  CLI11_PARSE(app, argc, argv);
  if (sentences.empty())
    for (std::string line; std::getline(std::cin, line);) sentences.push_back(line);

  const text::TrainedSpamModel trained = text::load_trained_spam_model(run_dir);
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < sentences.size(); ++i) {
    const std::vector<std::vector<int64_t>> ids = {
        text::encode_message(trained.vocabulary, trained.config, "", sentences[i])};
    const int64_t first = 0;
    const text::Batch batch = text::make_batch(ids, {0}, {&first, 1});
    const double spam = softmax(trained.model->forward(batch.ids, batch.mask), 1).at({0, 1});
    fmt::print("{:<4}  {:.4f}  {}\n", spam >= 0.5 ? "spam" : "ham", spam, sentences[i]);
    if (i > 0 || attention_svg.empty()) continue;
    std::vector<std::string> tokens;
    for (double id : batch.ids.to_vector())
      tokens.push_back(trained.vocabulary.token(static_cast<int64_t>(id)));
    const Tensor weights = trained.model->first_layer_attention(batch.ids, batch.mask).squeeze(0);
    write_file_atomically(attention_svg, report::svg_attention_heatmap(tokens, tokens, weights,
                                                                       "first layer attention"));
    fmt::print("wrote {} ({} heads, {} tokens)\n", attention_svg, weights.size(0), tokens.size());
  }
  return 0;
}
