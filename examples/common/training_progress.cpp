#include "examples/common/training_progress.hpp"

#include "autograd/error.hpp"

namespace tapegrad::text {

nlohmann::json to_json(const TrainingProgress& progress) {
  return {{"step", progress.step},
          {"position", {{"epoch", progress.position.epoch}, {"step", progress.position.step}}},
          {"epoch_totals",
           {{"loss_sum", progress.epoch.loss_sum},
            {"correct", progress.epoch.correct},
            {"seen", progress.epoch.seen}}},
          {"curves",
           {{"train_loss", progress.curves.train_loss},
            {"dev_loss", progress.curves.dev_loss},
            {"train_accuracy", progress.curves.train_accuracy},
            {"dev_accuracy", progress.curves.dev_accuracy},
            {"dev_subject_f1", progress.curves.dev_subject_f1}}},
          {"best_dev_score", progress.best_dev_score},
          {"epochs_without_gain", progress.epochs_without_gain},
          {"skipped_steps", progress.skipped_steps},
          {"train_seconds", progress.train_seconds},
          {"settings", progress.settings}};
}

TrainingProgress training_progress_from_json(const nlohmann::json& json, std::string_view source) {
  try {
    TrainingProgress progress;
    progress.step = json.at("step").get<int64_t>();
    progress.position = {json.at("position").at("epoch").get<int64_t>(),
                         json.at("position").at("step").get<int64_t>()};
    const nlohmann::json& totals = json.at("epoch_totals");
    progress.epoch = {totals.at("loss_sum").get<double>(), totals.at("correct").get<int64_t>(),
                      totals.at("seen").get<int64_t>()};
    const nlohmann::json& curves = json.at("curves");
    progress.curves = {curves.at("train_loss").get<std::vector<double>>(),
                       curves.at("dev_loss").get<std::vector<double>>(),
                       curves.at("train_accuracy").get<std::vector<double>>(),
                       curves.at("dev_accuracy").get<std::vector<double>>(),
                       curves.at("dev_subject_f1").get<std::vector<double>>()};
    progress.best_dev_score = json.at("best_dev_score").get<double>();
    progress.epochs_without_gain = json.at("epochs_without_gain").get<int64_t>();
    progress.skipped_steps = json.at("skipped_steps").get<int64_t>();
    progress.train_seconds = json.at("train_seconds").get<double>();
    progress.settings = json.at("settings");
    return progress;
  } catch (const nlohmann::json::exception& e) {
    fail("training progress in {}: {}", source, e.what());
  }
}

}  // namespace tapegrad::text
