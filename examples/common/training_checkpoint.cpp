#include "examples/common/training_checkpoint.hpp"

#include "autograd/generator.hpp"
#include "examples/common/finite_save.hpp"
#include "optim/checkpoint.hpp"

namespace tapegrad::text {

void save_training_checkpoint(const std::filesystem::path& path, const nn::Module& model,
                              const optim::Optimizer& optimizer, const optim::LRScheduler& schedule,
                              const nlohmann::json& progress) {
  check_finite_before_writing(model, path);
  optim::save_checkpoint(path, {model.state_dict(), optimizer.state_dict(), schedule.state_dict(),
                                default_generator().state(), progress});
}

nlohmann::json resume_training(const std::filesystem::path& path, const nlohmann::json& settings,
                               nn::Module& model, optim::Optimizer& optimizer,
                               optim::LRScheduler& schedule) {
  const optim::TrainingState state = optim::load_checkpoint(path);
  const nlohmann::json written =
      state.progress.contains("settings") ? state.progress["settings"] : nlohmann::json();
  if (written != settings)
    fail("--resume: {} was written with the settings {}, not these: {}", path.string(),
         written.dump(), settings.dump());
  model.load_state_dict(state.model, true, path.string());
  optimizer.load_state_dict(state.optimizer);
  schedule.load_state_dict(state.scheduler);
  default_generator().set_state(state.rng);
  return state.progress;
}

}  // namespace tapegrad::text
