// What the predict tool says of one text: its label, the calibrated spam probability and, on
// request, the tokens that weigh most toward the label.
//
// The text is read as the model reads a mail (tokens of the subject then the body: a sentence is
// the same either way). A text with no token the vocabulary knows (empty, or only unknown words)
// tells the model nothing: it gets the label "unknown" and the prior (the train split's spam
// fraction), never a confident label.
//
// Explanations are gradient × input on the token embeddings (Shrikumar et al. 2016; Simonyan et
// al. 2013): for the margin m = l_spam − l_ham and token t's embedding e_t,
//   weight_t = Σ_c e_t[c] · ∂m/∂e_t[c]
// the first-order share of m that e_t carries (m ≈ Σ_t weight_t for a model linear in e). Positive
// weights push toward spam, negative toward ham; the tokens listed are those with the largest
// weight toward the label given.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "examples/common/spam_model.hpp"

namespace tapegrad::text {

struct TokenWeight {
  std::string token;  // as written in the text (lowercased), known to the vocabulary or not
  double weight;      // toward spam when positive
};

struct SpamPrediction {
  std::string text;
  std::string label;                 // "spam", "ham", or "unknown" when no token is known
  double p_spam = 0;                 // calibrated; the prior when the label is "unknown"
  int64_t known_tokens = 0;          // tokens the vocabulary holds (of the first max_len)
  std::vector<TokenWeight> reasons;  // most weight toward the label first (with explain > 0)
};

// The prediction of `trained` for `text`, with up to `explain` reasons (0: none). Turns the model
// to eval mode.
SpamPrediction predict_spam(TrainedSpamModel& trained, std::string_view text, int explain = 0);

// The weight of each token of `ids` [1, T] (mask [1, T]) toward spam, in order.
std::vector<double> token_weights(SpamClassifier& model, const Tensor& ids, const Tensor& mask);

// {"text", "label", "p_spam"}, and "reasons": [{"token", "weight"}...] when there are some.
nlohmann::json to_json(const SpamPrediction& prediction);

// One line for people: "spam  0.9871  Win a FREE cruise", then "      why: free +2.31, ..." when
// there are reasons, or a note when the label is "unknown".
std::string format_prediction(const SpamPrediction& prediction);

}  // namespace tapegrad::text
