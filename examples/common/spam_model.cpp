#include "examples/common/spam_model.hpp"

#include "autograd/io/atomic_file.hpp"
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

nlohmann::json to_json(const SpamModelConfig& config) {
  return {
      {"vocab_size", config.vocab_size}, {"d_model", config.d_model}, {"heads", config.heads},
      {"layers", config.layers},         {"ffn", config.ffn},         {"max_len", config.max_len},
      {"body_words", config.body_words}, {"dropout", config.dropout}};
}

SpamModelConfig spam_model_config_from_json(const nlohmann::json& json, std::string_view source) {
  SpamModelConfig config;
  const auto read = [&](const char* key, auto& value) {
    if (!json.is_object() || !json.contains(key) || !json[key].is_number())
      fail("spam model config {}: '{}' is missing or not a number", source, key);
    value = json[key].get<std::remove_reference_t<decltype(value)>>();
  };
  read("vocab_size", config.vocab_size);
  read("d_model", config.d_model);
  read("heads", config.heads);
  read("layers", config.layers);
  read("ffn", config.ffn);
  read("max_len", config.max_len);
  read("body_words", config.body_words);
  read("dropout", config.dropout);
  if (config.vocab_size < 2 || config.d_model < 1 || config.heads < 1 || config.layers < 1 ||
      config.ffn < 1 || config.max_len < 1 || config.body_words < 0 ||
      !(config.dropout >= 0 && config.dropout < 1))
    fail("spam model config {}: a value is out of range: {}", source, json.dump());
  return config;
}

SpamClassifier::SpamClassifier(const SpamModelConfig& config_)
    : config(config_),
      tok(config.vocab_size, config.d_model, {.padding_idx = Vocabulary::kPad}),
      pos(config.d_model, config.max_len, config.dropout),
      encoder(layer_options(config), config.layers),
      head(config.d_model, 2) {
  register_modules({{"tok", tok}, {"pos", pos}, {"encoder", encoder}, {"head", head}});
}

Tensor SpamClassifier::forward(const Tensor& ids, const Tensor& mask) {
  const Tensor h = encoder(pos(tok(ids)), {.src_key_padding_mask = mask});  // [B, T, C]
  return head(nn::masked_mean(h, mask));                                    // [B, 2]
}

Tensor SpamClassifier::first_layer_attention(const Tensor& ids, const Tensor& mask) {
  const Tensor x = pos(tok(ids));  // post-LN: the first layer attends over its input directly
  return encoder.layers[0]
      .self_attn(x, x, x, {.key_padding_mask = mask, .average_attn_weights = false})
      .weights;
}

std::vector<int64_t> encode_message(const Vocabulary& vocabulary, const SpamModelConfig& config,
                                    std::string_view subject, std::string_view body) {
  return vocabulary.encode(tokenize_mail(subject, body, config.body_words), config.max_len);
}

TrainedSpamModel load_trained_spam_model(const std::filesystem::path& run_dir) {
  const std::filesystem::path config_path = run_dir / "config.json";
  const nlohmann::json json = nlohmann::json::parse(read_file(config_path), nullptr, false);
  TrainedSpamModel trained{spam_model_config_from_json(json, config_path.string()),
                           Vocabulary::load(run_dir / "vocabulary.json"), nullptr};
  if (trained.vocabulary.size() != trained.config.vocab_size)
    fail("spam model {}: vocabulary.json has {} tokens but config.json says {}", run_dir.string(),
         trained.vocabulary.size(), trained.config.vocab_size);
  trained.model = std::make_unique<SpamClassifier>(trained.config);
  trained.model->load(run_dir / "model.safetensors");
  trained.model->eval();
  return trained;
}

}  // namespace tapegrad::text
