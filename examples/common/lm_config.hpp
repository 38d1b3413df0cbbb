// The config.json of a language-model run (train_lm writes it, generate reads it): the
// DecoderLM's options under their nn::DecoderLMOptions names, and how text becomes tokens
// ("tokens": "bytes", each byte of the text one token, vocab_size 256).
#pragma once

#include <nlohmann/json.hpp>

#include <string_view>

#include "nn/decoder.hpp"

namespace tapegrad::text {

nlohmann::json to_json(const nn::DecoderLMOptions& options);
// An Error naming `source` and the field when one is missing, of the wrong type, or when the
// tokens are not bytes.
nn::DecoderLMOptions decoder_options_from_json(const nlohmann::json& json, std::string_view source);

}  // namespace tapegrad::text
