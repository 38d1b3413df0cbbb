// Binary classification metrics for the positive class (label 1): the confusion matrix, accuracy,
// precision, recall and F1, as text for the terminal and as JSON for result files.
//
// Undefined ratios are 0, as scikit-learn computes them with zero_division=0:
// precision is 0 when nothing was predicted positive, recall is 0 when no example is positive, F1
// is 0 when both are (F1 = 2tp / (2tp + fp + fn), which equals the harmonic mean of precision and
// recall whenever that is defined), and accuracy is 0 for an empty set.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "autograd/tensor.hpp"

namespace tapegrad::report {

struct ConfusionMatrix {
  int64_t tp = 0;  // predicted 1, label 1
  int64_t fp = 0;  // predicted 1, label 0
  int64_t fn = 0;  // predicted 0, label 1
  int64_t tn = 0;  // predicted 0, label 0

  int64_t total() const { return tp + fp + fn + tn; }
};

// Counts of predictions against labels, both 0 or 1, element by element. An Error if the sizes
// differ or a value is neither 0 nor 1.
ConfusionMatrix confusion_matrix(const std::vector<int>& predictions,
                                 const std::vector<int>& labels);
// The same for int64 tensors of one shape (e.g. argmax of logits [B] against targets [B]).
ConfusionMatrix confusion_matrix(const Tensor& predictions, const Tensor& labels);

double accuracy(const ConfusionMatrix& counts);
double precision(const ConfusionMatrix& counts);
double recall(const ConfusionMatrix& counts);
double f1(const ConfusionMatrix& counts);
// F_β = (1 + β²)·tp / ((1 + β²)·tp + β²·fn + fp): recall counts β times as much as precision
// (β = 0.5: precision twice as much, for a filter whose false alarms cost more than its misses);
// F_1 is f1. 0 when tp, fp and fn are all 0.
double f_beta(const ConfusionMatrix& counts, double beta);

// |                 | Predicted Positive | Predicted Negative |
// | Actual Positive | 12                 | 3                  |
// | Actual Negative | 1                  | 84                 |
std::string format_confusion_matrix(const ConfusionMatrix& counts);

// One line each: accuracy, precision, recall and F1, with the counts they come from.
std::string format_metrics(const ConfusionMatrix& counts);

// {"accuracy", "precision", "recall", "f1", "tp", "fp", "fn", "tn", "n"}.
nlohmann::json to_json(const ConfusionMatrix& counts);

}  // namespace tapegrad::report
