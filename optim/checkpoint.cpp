#include "optim/checkpoint.hpp"

#include "autograd/io/atomic_file.hpp"
#include "autograd/io/safetensors.hpp"

namespace tapegrad::optim {
namespace {

constexpr std::string_view kMetadataKey = "tapegrad.checkpoint";
constexpr std::string_view kModelPrefix = "model.";
constexpr std::string_view kOptimizerPrefix = "optimizer.";
// The header needs a few levels; deeper nesting is refused, as nlohmann copies JSON recursively and
// a deep enough value would overflow the stack.
constexpr int kMaxHeaderDepth = 64;

// The header's JSON, or a discarded value if it is not JSON; an Error if it nests too deep.
nlohmann::json parse_header(const std::string& text, std::string_view source) {
  const nlohmann::json::parser_callback_t check_depth = [&](int depth,
                                                            nlohmann::json::parse_event_t event,
                                                            nlohmann::json&) {
    using Event = nlohmann::json::parse_event_t;
    if ((event == Event::object_start || event == Event::array_start) && depth >= kMaxHeaderDepth)
      fail("checkpoint: {}: the '{}' metadata nests JSON deeper than {} levels", source,
           kMetadataKey, kMaxHeaderDepth);
    return true;
  };
  return nlohmann::json::parse(text, check_depth, false);
}

}  // namespace

void save_checkpoint(const std::filesystem::path& path, const TrainingState& state) {
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, t] : state.model) tensors.emplace(std::string(kModelPrefix) + name, t);
  for (const auto& [name, t] : state.optimizer.tensors)
    tensors.emplace(std::string(kOptimizerPrefix) + name, t);
  const nlohmann::json header = {{"optimizer", state.optimizer.scalars},
                                 {"scheduler", state.scheduler},
                                 {"rng", state.rng},
                                 {"progress", state.progress}};
  save_safetensors(path, tensors, {{std::string(kMetadataKey), header.dump()}});
}

TrainingState decode_checkpoint(std::string_view bytes, std::string_view source) {
  const TensorFile file = decode_safetensors(bytes, source);
  const auto metadata = file.metadata.find(std::string(kMetadataKey));
  if (metadata == file.metadata.end())
    fail("checkpoint: {} has no '{}' metadata: it is not a tapegrad checkpoint", source,
         kMetadataKey);
  const nlohmann::json header = parse_header(metadata->second, source);
  if (!header.is_object() || !header.contains("optimizer") || !header.contains("rng") ||
      !header["rng"].is_string())
    fail("checkpoint: {}: the '{}' metadata is not a checkpoint header", source, kMetadataKey);
  TrainingState state;
  for (const auto& [name, t] : file.tensors) {
    if (name.starts_with(kModelPrefix)) {
      state.model.emplace(name.substr(kModelPrefix.size()), t);
    } else if (name.starts_with(kOptimizerPrefix)) {
      state.optimizer.tensors.emplace(name.substr(kOptimizerPrefix.size()), t);
    } else {
      fail("checkpoint: {}: unexpected tensor '{}'", source, name);
    }
  }
  state.optimizer.scalars = header["optimizer"];
  state.scheduler = header.value("scheduler", nlohmann::json());
  state.rng = header["rng"].get<std::string>();
  state.progress = header.value("progress", nlohmann::json());
  return state;
}

TrainingState load_checkpoint(const std::filesystem::path& path) {
  return decode_checkpoint(read_file(path), path.string());
}

}  // namespace tapegrad::optim
