#include "examples/common/spam_prediction.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "autograd/autograd.hpp"
#include "examples/common/batching.hpp"
#include "examples/common/tokenizer.hpp"

namespace tapegrad::text {

std::vector<double> token_weights(SpamClassifier& model, const Tensor& ids, const Tensor& mask) {
  model.eval();
  const Tensor embedded = model.tok(ids).detach().requires_grad_();  // [1, T, C]
  const Tensor logits = model.forward_embedded(embedded, mask);      // [1, 2]
  const Tensor margin = sum(narrow(logits, 1, 1, 1) - narrow(logits, 1, 0, 1));
  margin.backward();
  return sum(embedded.grad() * embedded, {2}).to_vector();  // Σ_c e[c]·∂m/∂e[c], [1, T]
}

SpamPrediction predict_spam(TrainedSpamModel& trained, std::string_view text, int explain) {
  SpamPrediction prediction;
  prediction.text = text;
  const std::vector<std::string> tokens = tokenize_mail("", text, trained.config.body_words);
  const std::vector<std::vector<int64_t>> ids = {
      trained.vocabulary.encode(tokens, trained.config.max_len)};
  prediction.known_tokens = std::count_if(ids[0].begin(), ids[0].end(),
                                          [](int64_t id) { return id != Vocabulary::kUnk; });
  const report::Calibration& calibration = trained.calibration;
  if (prediction.known_tokens == 0) {
    prediction.label = "unknown";
    prediction.p_spam = calibration.prior_spam;
    return prediction;
  }
  const int64_t first = 0;
  const Batch batch = make_batch(ids, {0}, {&first, 1});
  trained.model->eval();
  double margin = 0;
  {
    NoGradGuard no_grad;
    const Tensor logits = trained.model->forward(batch.ids, batch.mask);
    margin = logits.at({0, 1}) - logits.at({0, 0});
  }
  prediction.p_spam = report::spam_probability(margin, calibration.temperature);
  prediction.label = prediction.p_spam >= calibration.threshold ? "spam" : "ham";
  if (explain <= 0) return prediction;
  const std::vector<double> weights = token_weights(*trained.model, batch.ids, batch.mask);
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
