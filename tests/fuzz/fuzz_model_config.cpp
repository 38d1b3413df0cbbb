// libFuzzer target: the spam classifier's config.json. Bytes that parse as JSON go to
// spam_model_config_from_json, which returns a config or throws tapegrad::Error.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>

#include "autograd/error.hpp"
#include "examples/common/spam_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const nlohmann::json json = nlohmann::json::parse(data, data + size, nullptr, false);
  if (json.is_discarded()) return 0;
  try {
    tapegrad::text::spam_model_config_from_json(json, "fuzz input");
  } catch (const tapegrad::Error&) {
  }
  return 0;
}
