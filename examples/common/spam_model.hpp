// The spam classifier of the main example: token embeddings plus sinusoidal positions, a
// Transformer encoder, mean pooling over the real tokens, and a Linear head with two classes
// (0 = ham, 1 = spam); beside it a bag of hashed character n-grams of the text (char_ngrams.hpp),
// each with a learned weight per class, adds to the logits (a "wide and deep" model):
//   logits = head(mean_t encoder(tok(ids) + pos)_t) + Σ_g W[g] / √|G|
// over the set G of the text's n-gram ids (the 1/√|G| of an L2-normalized binary bag of words).
// The training script and the predict tool share it, with its config (stored as config.json
// beside the weights).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include "examples/common/batching.hpp"
#include "examples/common/calibration.hpp"
#include "examples/common/head_pruning.hpp"
#include "examples/common/vocabulary.hpp"
#include "nn/nn.hpp"

namespace tapegrad::text {

struct SpamModelConfig {
  int64_t vocab_size = 0;
  int64_t d_model = 64;
  int64_t heads = 4;
  int64_t layers = 1;
  int64_t ffn = 128;
  // Tokens per message: the subject, then the first body words. The median message is 168
  // tokens (subject 6) and a quarter are longer than 400: 512 reads most messages whole, and
  // length-bucketed batches (batching.hpp) keep its cost near that of 256 tokens. Over seeds 0-2
  // 512 gave test F1 0.977 and a hard-ham false-positive rate of 0.34, against 0.971 and 0.52
  // with 256 (seed 0 alone; 256 tokens were the default before the sentence views).
  int64_t max_len = 512;
  int64_t body_words = 512;  // body words read before truncating to max_len
  double dropout = 0.1;
  // Hashed character n-grams, 1 to ngram_max_n bytes, in ngram_buckets ids (id 0 is padding);
  // ngram_buckets 0 turns the bag of n-grams off (and configs saved without the keys have it off).
  int64_t ngram_buckets = int64_t{1} << 18;
  int64_t ngram_max_n = 5;
  // Attention heads pruned from each layer (Hugging Face's config key `pruned_heads`, in
  // config.json as {"0": [1, 3]}): the model is built whole, then pruned, then loaded.
  PrunedHeads pruned_heads = {};
};

nlohmann::json to_json(const SpamModelConfig& config);
// An Error naming `source` and the field for a value out of range: vocab_size < 2 (<pad>, <unk>),
// a width, head count, layer count or length < 1, heads not dividing d_model, body_words < 0,
// dropout outside [0, 1), pruned heads of a layer or a head that does not exist, or all of a
// layer's heads.
void check_spam_model_config(const SpamModelConfig& config, std::string_view source);
// An Error naming `source` for missing keys, wrong types or values out of range.
SpamModelConfig spam_model_config_from_json(const nlohmann::json& json, std::string_view source);

class SpamClassifier : public nn::Module {
 public:
  explicit SpamClassifier(const SpamModelConfig& config);

  // ids int64 [B, T], mask bool [B, T] (true = real token), ngrams int64 [B, G] (each row's
  // n-gram ids, 0 after them; an Error if missing when the model has a bag of n-grams, ignored
  // when it has none) -> logits [B, 2]
  Tensor forward(const Tensor& ids, const Tensor& mask, const Tensor& ngrams);
  // The bag of n-grams' part of the logits, Σ_g W[g] / √|G| per row: [B, 2].
  Tensor ngram_logits(const Tensor& ngrams);
  // The first layer's attention weights per head, [B, heads, T, T], for pictures.
  Tensor first_layer_attention(const Tensor& ids, const Tensor& mask);

  SpamModelConfig config;
  nn::Embedding tok;
  nn::SinusoidalPositionalEncoding pos;
  nn::TransformerEncoder encoder;
  nn::Linear head;
  std::optional<nn::Embedding> ngram;  // [ngram_buckets, 2], none if ngram_buckets is 0
};

// The model's input for one message: the ids of its first max_len tokens, and the n-gram ids of
// the text they come from (the subject, then the body through its body_words-th word).
ModelInput encode_message(const Vocabulary& vocabulary, const SpamModelConfig& config,
                          std::string_view subject, std::string_view body);
// The n-gram ids of that text (none without the bag of n-grams).
std::vector<int64_t> message_ngrams(const SpamModelConfig& config, std::string_view subject,
                                    std::string_view body);

// A trained run directory: config.json, vocabulary.json, model.safetensors and calibration.json.
struct TrainedSpamModel {
  SpamModelConfig config;
  Vocabulary vocabulary;
  std::unique_ptr<SpamClassifier> model;
  report::Calibration calibration;
};
TrainedSpamModel load_trained_spam_model(const std::filesystem::path& run_dir);

}  // namespace tapegrad::text
