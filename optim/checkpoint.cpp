#include "optim/checkpoint.hpp"

#include "autograd/io/safetensors.hpp"

namespace tapegrad::optim {
namespace {

constexpr std::string_view kMetadataKey = "tapegrad.checkpoint";
constexpr std::string_view kModelPrefix = "model.";
constexpr std::string_view kOptimizerPrefix = "optimizer.";

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

TrainingState load_checkpoint(const std::filesystem::path& path) {
  const TensorFile file = load_safetensors(path);
  const auto metadata = file.metadata.find(std::string(kMetadataKey));
  if (metadata == file.metadata.end())
    fail("load_checkpoint: {} has no '{}' metadata: it is not a tapegrad checkpoint", path.string(),
         kMetadataKey);
  const nlohmann::json header = nlohmann::json::parse(metadata->second, nullptr, false);
  if (!header.is_object() || !header.contains("optimizer") || !header.contains("rng") ||
      !header["rng"].is_string())
    fail("load_checkpoint: {}: the '{}' metadata is not a checkpoint header", path.string(),
         kMetadataKey);
  TrainingState state;
  for (const auto& [name, t] : file.tensors) {
    if (name.starts_with(kModelPrefix)) {
      state.model.emplace(name.substr(kModelPrefix.size()), t);
    } else if (name.starts_with(kOptimizerPrefix)) {
      state.optimizer.tensors.emplace(name.substr(kOptimizerPrefix.size()), t);
    } else {
      fail("load_checkpoint: {}: unexpected tensor '{}'", path.string(), name);
    }
  }
  state.optimizer.scalars = header["optimizer"];
  state.scheduler = header.value("scheduler", nlohmann::json());
  state.rng = header["rng"].get<std::string>();
  state.progress = header.value("progress", nlohmann::json());
  return state;
}

}  // namespace tapegrad::optim
