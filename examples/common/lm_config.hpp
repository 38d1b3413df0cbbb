// The config.json of a language-model run (train_lm writes it, generate and prune_lm read it):
// the DecoderLM's options under their nn::DecoderLMOptions names, and how text becomes tokens
// ("tokens": "bytes", each byte of the text one token, vocab_size 256). "pruned_heads" (as
// {"0": [1, 3]}) is optional: runs from before pruning have none.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <string_view>

#include "nn/decoder.hpp"

namespace tapegrad::text {

nlohmann::json to_json(const nn::DecoderLMOptions& options);
// An Error naming `source` and the field when one is missing, of the wrong type, or when the
// tokens are not bytes.
nn::DecoderLMOptions decoder_options_from_json(const nlohmann::json& json, std::string_view source);

// The model of the run directory `run` (config.json, model.safetensors), in eval mode; an Error
// naming the file that is missing or wrong.
std::unique_ptr<nn::DecoderLM> load_lm_run(const std::filesystem::path& run);

}  // namespace tapegrad::text
