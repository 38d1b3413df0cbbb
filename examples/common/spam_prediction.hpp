// What the predict tool says of one text: its label, the calibrated spam probability and, on
// request, the tokens that weigh most toward the label.
//
// The text is read as the model reads a mail (tokens of the subject then the body: a sentence is
// the same either way). A text with no token the vocabulary knows (empty, or only unknown words)
// tells the model nothing: it gets the label "unknown" and the prior (the train split's spam
// fraction), never a confident label.
//
// Explanations leave one word out at a time (occlusion; Li, Monroe & Jurafsky 2016,
// "Understanding Neural Networks through Representation Erasure"): for the margin
// m = l_spam − l_ham,
//   weight_t = m(text) − m(text without word t)
// what word t adds to the margin through both of the model's paths (its token in the
// Transformer, its character n-grams in the bag). Positive weights push toward spam, negative
// toward ham; the words listed are those with the largest weight toward the label given.
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

// The weight of each word of `text` the model reads (its first min(max_len, body_words) tokens)
// toward spam, in order. Turns the model to eval mode.
std::vector<double> word_weights(TrainedSpamModel& trained, std::string_view text);

// {"text", "label", "p_spam"}, and "reasons": [{"token", "weight"}...] when there are some.
nlohmann::json to_json(const SpamPrediction& prediction);

// One line for people: "spam  0.9871  Win a FREE cruise", then "      why: free +2.31, ..." when
// there are reasons, or a note when the label is "unknown".
std::string format_prediction(const SpamPrediction& prediction);

}  // namespace tapegrad::text
