// A trained classifier on a split: loss, confusion matrix and the margins the calibration
// reads, off the tape in eval mode; and the confusion matrix of the calibrated decisions. Used by
// train_classifier (dev after every epoch, test at the end) and prune_classifier.
#pragma once

#include <cstdint>
#include <vector>

#include "examples/common/calibration.hpp"
#include "examples/common/metrics.hpp"
#include "examples/common/spam_model.hpp"

namespace tapegrad::text {

struct Evaluation {
  double loss = 0;
  report::ConfusionMatrix confusion;  // at the threshold 0.5 on the uncalibrated model
  std::vector<double> margins;        // l_spam - l_ham per message, in the order evaluated
  std::vector<int> labels;
};

// Loss, confusion matrix and margins of `model` on `view` (one input per message) of the
// messages `indices`, in batches of 128, in eval mode, off the tape.
Evaluation evaluate(SpamClassifier& model, const std::vector<ModelInput>& view,
                    const std::vector<int>& labels, const std::vector<int64_t>& indices);

// The confusion matrix of the calibrated decisions: spam where σ(margin / T) >= threshold.
report::ConfusionMatrix calibrated_confusion(const Evaluation& evaluation,
                                             const report::Calibration& calibration);

}  // namespace tapegrad::text
