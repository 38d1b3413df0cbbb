#include "examples/common/spam_prediction.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <span>

#include "autograd/autograd.hpp"
#include "examples/common/batching.hpp"
#include "examples/common/tokenizer.hpp"

namespace tapegrad::text {

namespace {

// The margins l_spam − l_ham of `inputs`, off the tape, in batches of 64.
std::vector<double> margins(SpamClassifier& model, const std::vector<ModelInput>& inputs) {
  NoGradGuard no_grad;
  model.eval();
  std::vector<double> result;
  const std::vector<int> labels(inputs.size(), 0);
  std::vector<int64_t> rows(inputs.size());
  std::iota(rows.begin(), rows.end(), int64_t{0});
  for (std::size_t start = 0; start < rows.size(); start += 64) {
    const std::span<const int64_t> chunk(rows.data() + start,
                                         std::min<std::size_t>(64, rows.size() - start));
    const Batch batch = make_batch(inputs, labels, chunk);
    const Tensor logits = model.forward(batch.ids, batch.mask, batch.ngrams);
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      const auto row = static_cast<int64_t>(i);
      result.push_back(logits.at({row, 1}) - logits.at({row, 0}));
    }
  }
  return result;
}

}  // namespace

std::vector<double> word_weights(TrainedSpamModel& trained, std::string_view text) {
  const auto input = [&](std::string_view message) {
    return encode_message(trained.vocabulary, trained.config, "", message);
  };
  std::vector<ModelInput> inputs = {input(text)};
  const std::vector<TokenOffsets> words = token_offsets(leading_words(
      text, std::min(trained.config.max_len, trained.config.body_words)));  // the words it reads
  for (const TokenOffsets& word : words)
    inputs.push_back(
        input(std::string(text.substr(0, word.begin)) + std::string(text.substr(word.end))));
  const std::vector<double> m = margins(*trained.model, inputs);
  std::vector<double> weights;
  for (std::size_t t = 0; t < words.size(); ++t) weights.push_back(m[0] - m[t + 1]);
  return weights;
}

SpamPrediction predict_spam(TrainedSpamModel& trained, std::string_view text, int explain) {
  SpamPrediction prediction;
  prediction.text = text;
  const std::vector<std::string> tokens = tokenize_mail("", text, trained.config.body_words);
  const std::vector<int64_t> ids = trained.vocabulary.encode(tokens, trained.config.max_len);
  prediction.known_tokens =
      std::count_if(ids.begin(), ids.end(), [](int64_t id) { return id != Vocabulary::kUnk; });
  const report::Calibration& calibration = trained.calibration;
  if (prediction.known_tokens == 0) {
    prediction.label = "unknown";
    prediction.p_spam = calibration.prior_spam;
    return prediction;
  }
  const double margin =
      margins(*trained.model, {encode_message(trained.vocabulary, trained.config, "", text)})[0];
  prediction.p_spam = report::spam_probability(margin, calibration.temperature);
  prediction.label = prediction.p_spam >= calibration.threshold ? "spam" : "ham";
  if (explain <= 0) return prediction;
  const std::vector<double> weights = word_weights(trained, text);
  const double toward_label = prediction.label == "spam" ? 1.0 : -1.0;
  std::vector<std::size_t> order(weights.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return weights[a] * toward_label > weights[b] * toward_label;
  });
  for (std::size_t i = 0; i < order.size() && static_cast<int>(i) < explain; ++i) {
    if (weights[order[i]] * toward_label <= 0) break;  // only what weighs toward the label
    prediction.reasons.push_back({tokens[order[i]], weights[order[i]]});
  }
  return prediction;
}

nlohmann::json to_json(const SpamPrediction& prediction) {
  nlohmann::json json = {
      {"text", prediction.text}, {"label", prediction.label}, {"p_spam", prediction.p_spam}};
  if (!prediction.reasons.empty()) {
    json["reasons"] = nlohmann::json::array();
    for (const TokenWeight& reason : prediction.reasons)
      json["reasons"].push_back({{"token", reason.token}, {"weight", reason.weight}});
  }
  return json;
}

std::string format_prediction(const SpamPrediction& prediction) {
  std::string line =
      fmt::format("{:<7}  {:.4f}  {}", prediction.label, prediction.p_spam, prediction.text);
  if (prediction.label == "unknown")
    line +=
        "\n         (no word the model knows: the probability is the prior, the spam fraction "
        "of its training mail)";
  if (!prediction.reasons.empty()) {
    line += "\n         why:";
    for (std::size_t i = 0; i < prediction.reasons.size(); ++i)
      line += fmt::format("{} {} {:+.2f}", i == 0 ? "" : ",", prediction.reasons[i].token,
                          prediction.reasons[i].weight);
  }
  return line;
}

}  // namespace tapegrad::text
