// Where a training run of the classifier stands, beside the tensors of its checkpoint: the step,
// the next batch, the totals of the epoch in progress, the curves of the epochs done, the
// early-stopping state and the settings the run was started with. It travels as the JSON
// `progress` of optim::TrainingState; doubles round-trip exactly through nlohmann::json, so a
// resumed run prints and plots the same numbers as an uninterrupted one.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string_view>
#include <vector>

#include "examples/common/batching.hpp"

namespace tapegrad::text {

// Sums over the steps of one epoch: the mean loss and accuracy are loss_sum / seen, correct / seen.
struct EpochTotals {
  double loss_sum = 0;
  int64_t correct = 0;
  int64_t seen = 0;
};

// One value per finished epoch.
struct TrainingCurves {
  std::vector<double> train_loss, dev_loss, train_accuracy, dev_accuracy, dev_subject_f1;
};

struct TrainingProgress {
  int64_t step = 0;        // batches taken so far, in every epoch (updates and skipped steps)
  BatchPosition position;  // the next batch
  EpochTotals epoch;       // of the epoch at position.epoch
  TrainingCurves curves;
  double best_dev_score = -1;  // the dev score of model.safetensors; -1 before the first epoch ends
  int64_t epochs_without_gain = 0;
  int64_t skipped_steps = 0;  // steps with a non-finite loss or gradient, not applied
  double train_seconds = 0;   // summed over the processes of the run
  nlohmann::json settings;    // what fixes the run's result; resuming with others is an Error
};

nlohmann::json to_json(const TrainingProgress& progress);
// An Error naming `source` for a missing key or a value of the wrong type.
TrainingProgress training_progress_from_json(const nlohmann::json& json, std::string_view source);

}  // namespace tapegrad::text
