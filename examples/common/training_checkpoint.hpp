// The one-file checkpoint of the example trainings (optim/checkpoint.hpp): the model, optimizer,
// schedule, default generator and the run's progress as JSON, whose "settings" are what fixes the
// run's result, so that resuming under other settings is refused instead of mixing two runs.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>

#include "nn/module.hpp"
#include "optim/lr_scheduler.hpp"
#include "optim/optimizer.hpp"

namespace tapegrad::text {

// Written atomically; an Error instead if a parameter of `model` is not finite.
void save_training_checkpoint(const std::filesystem::path& path, const nn::Module& model,
                              const optim::Optimizer& optimizer, const optim::LRScheduler& schedule,
                              const nlohmann::json& progress);

// Restores the model, optimizer, schedule and default generator from the checkpoint at `path` and
// returns its progress. An Error if the progress's "settings" are not `settings`.
nlohmann::json resume_training(const std::filesystem::path& path, const nlohmann::json& settings,
                               nn::Module& model, optim::Optimizer& optimizer,
                               optim::LRScheduler& schedule);

}  // namespace tapegrad::text
