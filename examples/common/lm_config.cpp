#include "examples/common/lm_config.hpp"

#include "autograd/error.hpp"
#include "autograd/io/atomic_file.hpp"
#include "examples/common/head_pruning.hpp"

namespace tapegrad::text {

nlohmann::json to_json(const nn::DecoderLMOptions& options) {
  return {
      {"tokens", "bytes"},
      {"vocab_size", options.vocab_size},
      {"max_len", options.max_len},
      {"d_model", options.d_model},
      {"nhead", options.nhead},
      {"num_layers", options.num_layers},
      {"dim_feedforward", options.dim_feedforward},
      {"dropout", options.dropout},
      {"layer_norm_eps", options.layer_norm_eps},
      {"positions", options.positions == nn::PositionEncoding::Learned ? "learned" : "sinusoidal"},
      {"tie_weights", options.tie_weights},
      {"window", options.window},
      {"pruned_heads", pruned_heads_json(options.pruned_heads)}};
}

nn::DecoderLMOptions decoder_options_from_json(const nlohmann::json& json,
                                               std::string_view source) {
  try {
    if (const std::string tokens = json.at("tokens").get<std::string>(); tokens != "bytes")
      fail("{}: \"tokens\" is \"{}\"; only \"bytes\" is known", source, tokens);
    const std::string positions = json.at("positions").get<std::string>();
    if (positions != "learned" && positions != "sinusoidal")
      fail("{}: \"positions\" is \"{}\"; give \"learned\" or \"sinusoidal\"", source, positions);
    nn::DecoderLMOptions options{.vocab_size = json.at("vocab_size").get<int64_t>(),
                                 .max_len = json.at("max_len").get<int64_t>(),
                                 .d_model = json.at("d_model").get<int64_t>(),
                                 .nhead = json.at("nhead").get<int64_t>(),
                                 .num_layers = json.at("num_layers").get<int64_t>(),
                                 .dim_feedforward = json.at("dim_feedforward").get<int64_t>(),
                                 .dropout = json.at("dropout").get<double>(),
                                 .layer_norm_eps = json.at("layer_norm_eps").get<double>(),
                                 .positions = positions == "learned"
                                                  ? nn::PositionEncoding::Learned
                                                  : nn::PositionEncoding::Sinusoidal,
                                 .tie_weights = json.at("tie_weights").get<bool>(),
                                 .window = json.at("window").get<int64_t>()};
    if (const auto pruned = json.find("pruned_heads"); pruned != json.end())
      options.pruned_heads = pruned_heads_from_json(*pruned, source);
    return options;
  } catch (const nlohmann::json::exception& e) {
    fail("{}: {}", source, e.what());
  }
}

std::unique_ptr<nn::DecoderLM> load_lm_run(const std::filesystem::path& run) {
  if (!std::filesystem::is_directory(run))
    fail("--run {}: no run directory (train_lm --run {} makes one)", run.string(), run.string());
  const std::filesystem::path config_path = run / "config.json";
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(read_file(config_path));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not JSON: {}", config_path.string(), e.what());
  }
  auto model =
      std::make_unique<nn::DecoderLM>(decoder_options_from_json(config, config_path.string()));
  model->load(run / "model.safetensors");
  model->eval();
  return model;
}

}  // namespace tapegrad::text
