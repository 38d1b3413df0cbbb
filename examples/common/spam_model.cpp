#include "examples/common/spam_model.hpp"

#include <fmt/ranges.h>

#include <limits>
#include <set>

#include "autograd/autograd.hpp"
#include "autograd/io/atomic_file.hpp"
#include "examples/common/char_ngrams.hpp"
#include "examples/common/tokenizer.hpp"

namespace tapegrad::text {
namespace {

nn::TransformerEncoderLayerOptions layer_options(const SpamModelConfig& config) {
  return {.d_model = config.d_model,
          .nhead = config.heads,
          .dim_feedforward = config.ffn,
          .dropout = config.dropout,
          .activation = nn::Activation::GELU};
}

}  // namespace

void check_spam_model_config(const SpamModelConfig& config, std::string_view source) {
  const auto at_least = [&](std::string_view field, int64_t value, int64_t least) {
    if (value < least)
      fail("spam model config {}: {} must be >= {}, got {}", source, field, least, value);
  };
  at_least("vocab_size", config.vocab_size, 2);
  at_least("d_model", config.d_model, 1);
  at_least("heads", config.heads, 1);
  at_least("layers", config.layers, 1);
  at_least("ffn", config.ffn, 1);
  at_least("max_len", config.max_len, 1);
  at_least("body_words", config.body_words, 0);
  if (config.ngram_buckets != 0) {
    at_least("ngram_buckets (when not 0)", config.ngram_buckets, 2);
    at_least("ngram_max_n", config.ngram_max_n, 1);
  }
  if (config.d_model % config.heads != 0)
    fail("spam model config {}: heads {} does not divide d_model {}", source, config.heads,
         config.d_model);
  if (!(config.dropout >= 0 && config.dropout < 1))
    fail("spam model config {}: dropout must be in [0, 1), got {}", source, config.dropout);
  for (const auto& [layer, heads] : config.pruned_heads) {
    const std::set<int64_t> distinct(heads.begin(), heads.end());
    if (layer < 0 || layer >= config.layers || distinct.empty() || *distinct.begin() < 0 ||
        *distinct.rbegin() >= config.heads || static_cast<int64_t>(distinct.size()) == config.heads)
      fail(
          "spam model config {}: pruned_heads of layer {} are {}; layers are 0..{}, heads 0..{}, "
          "and a layer keeps one at least",
          source, layer, heads, config.layers - 1, config.heads - 1);
  }
}

nlohmann::json to_json(const SpamModelConfig& config) {
  return {{"vocab_size", config.vocab_size},
          {"d_model", config.d_model},
          {"heads", config.heads},
          {"layers", config.layers},
          {"ffn", config.ffn},
          {"max_len", config.max_len},
          {"body_words", config.body_words},
          {"dropout", config.dropout},
          {"ngram_buckets", config.ngram_buckets},
          {"ngram_max_n", config.ngram_max_n},
          {"pruned_heads", pruned_heads_json(config.pruned_heads)}};
}

SpamModelConfig spam_model_config_from_json(const nlohmann::json& json, std::string_view source) {
  if (!json.is_object()) fail("spam model config {}: not a JSON object", source);
  SpamModelConfig config;
  // An integer key must hold a JSON integer that fits in int64: converting a float would truncate
  // it, or be undefined behaviour out of int64's range.
  const auto read_integer = [&](const char* key, int64_t& value) {
    const auto found = json.find(key);
    if (found == json.end() || !found->is_number_integer() ||
        (found->is_number_unsigned() &&
         found->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())))
      fail("spam model config {}: '{}' is missing or not an integer in int64's range", source, key);
    value = found->get<int64_t>();
  };
  read_integer("vocab_size", config.vocab_size);
  read_integer("d_model", config.d_model);
  read_integer("heads", config.heads);
  read_integer("layers", config.layers);
  read_integer("ffn", config.ffn);
  read_integer("max_len", config.max_len);
  read_integer("body_words", config.body_words);
  const auto dropout = json.find("dropout");
  if (dropout == json.end() || !dropout->is_number())
    fail("spam model config {}: 'dropout' is missing or not a number", source);
  config.dropout = dropout->get<double>();
  // Optional: runs saved before the bag of n-grams existed have none.
  config.ngram_buckets = 0;
  if (json.contains("ngram_buckets")) read_integer("ngram_buckets", config.ngram_buckets);
  if (json.contains("ngram_max_n")) read_integer("ngram_max_n", config.ngram_max_n);
  // Optional: runs saved before pruning existed have none.
  if (const auto pruned = json.find("pruned_heads"); pruned != json.end())
    config.pruned_heads =
        pruned_heads_from_json(*pruned, fmt::format("spam model config {}", source));
  check_spam_model_config(config, source);
  return config;
}

SpamClassifier::SpamClassifier(const SpamModelConfig& config_)
    : config(config_),
      tok(config.vocab_size, config.d_model, {.padding_idx = Vocabulary::kPad}),
      pos(config.d_model, config.max_len, config.dropout),
      encoder(layer_options(config), config.layers),
      head(config.d_model, 2) {
  register_modules({{"tok", tok}, {"pos", pos}, {"encoder", encoder}, {"head", head}});
  if (config.ngram_buckets > 0) {
    // Zero weights: the bag starts out saying nothing, as a logistic regression starts.
    ngram.emplace(config.ngram_buckets, 2, EmbeddingOptions{.padding_idx = 0});
    ngram->weight.set_data(zeros({config.ngram_buckets, 2}, {.dtype = ngram->weight.dtype()}));
    register_module("ngram", *ngram);
  }
  for (const auto& [layer, heads] : config.pruned_heads)
    encoder.layers[layer].self_attn.prune_heads(heads);
}

Tensor SpamClassifier::forward(const Tensor& ids, const Tensor& mask, const Tensor& ngrams) {
  const Tensor h = encoder(pos(tok(ids)), {.src_key_padding_mask = mask});  // [B, T, C]
  const Tensor logits = head(nn::masked_mean(h, mask));                     // [B, 2]
  return ngram ? logits + ngram_logits(ngrams) : logits;
}

Tensor SpamClassifier::ngram_logits(const Tensor& ngrams) {
  if (!ngram) fail("SpamClassifier::ngram_logits: this model has no bag of n-grams");
  if (!ngrams.defined() || ngrams.dtype() != kInt64 || ngrams.dim() != 2)
    fail(
        "SpamClassifier: this model reads a bag of n-grams (ngram_buckets {}): pass each row's "
        "n-gram ids as int64 [B, G] (make_batch's ngrams), got {}",
        config.ngram_buckets, ngrams.defined() ? fmt::format("{}", ngrams.shape()) : "none");
  const Tensor weights = (*ngram)(ngrams);  // [B, G, 2], zeros at the padding id 0
  const Tensor count = sum(ne(ngrams, 0.0).to(weights.dtype()), {1}, true);  // [B, 1]
  return sum(weights, {1}) / sqrt(clamp(count, 1.0, 1e18));
}

Tensor SpamClassifier::first_layer_attention(const Tensor& ids, const Tensor& mask) {
  const Tensor x = pos(tok(ids));  // post-LN: the first layer attends over its input directly
  return encoder.layers[0]
      .self_attn(x, x, x, {.key_padding_mask = mask, .average_attn_weights = false})
      .weights;
}

std::vector<int64_t> message_ngrams(const SpamModelConfig& config, std::string_view subject,
                                    std::string_view body) {
  if (config.ngram_buckets == 0) return {};
  std::string text(subject);
  text += '\n';
  text += leading_words(body, config.body_words);
  return char_ngram_ids(text, {.max_n = config.ngram_max_n, .buckets = config.ngram_buckets});
}

ModelInput encode_message(const Vocabulary& vocabulary, const SpamModelConfig& config,
                          std::string_view subject, std::string_view body) {
  return {vocabulary.encode(tokenize_mail(subject, body, config.body_words), config.max_len),
          message_ngrams(config, subject, body)};
}

TrainedSpamModel load_trained_spam_model(const std::filesystem::path& run_dir) {
  if (!std::filesystem::is_directory(run_dir))
    fail("no run directory {} (train one with scripts/train.sh, or name one with --run)",
         run_dir.string());
  const std::filesystem::path config_path = run_dir / "config.json";
  const nlohmann::json json = nlohmann::json::parse(read_file(config_path), nullptr, false);
  TrainedSpamModel trained{spam_model_config_from_json(json, config_path.string()),
                           Vocabulary::load(run_dir / "vocabulary.json"),
                           nullptr,
                           {}};
  if (trained.vocabulary.size() != trained.config.vocab_size)
    fail("spam model {}: vocabulary.json has {} tokens but config.json says {}", run_dir.string(),
         trained.vocabulary.size(), trained.config.vocab_size);
  trained.model = std::make_unique<SpamClassifier>(trained.config);
  trained.model->load(run_dir / "model.safetensors");
  trained.calibration = report::load_calibration(run_dir / "calibration.json");
  trained.model->eval();
  return trained;
}

}  // namespace tapegrad::text
