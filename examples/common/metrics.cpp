#include "examples/common/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace tapegrad::report {
namespace {

// numerator / denominator, or 0 when the denominator is 0 (scikit-learn's
// zero_division=0).
double ratio_or_zero(int64_t numerator, int64_t denominator) {
  return denominator == 0 ? 0.0 : static_cast<double>(numerator) / static_cast<double>(denominator);
}

void count(ConfusionMatrix& counts, int64_t prediction, int64_t label, std::size_t index) {
  if ((prediction != 0 && prediction != 1) || (label != 0 && label != 1))
    fail("confusion_matrix: at index {} prediction {} and label {} must both be 0 or 1", index,
         prediction, label);
  if (prediction == 1) {
    ++(label == 1 ? counts.tp : counts.fp);
  } else {
    ++(label == 1 ? counts.fn : counts.tn);
  }
}

}  // namespace

ConfusionMatrix confusion_matrix(const std::vector<int>& predictions,
                                 const std::vector<int>& labels) {
  if (predictions.size() != labels.size())
    fail("confusion_matrix: {} predictions but {} labels", predictions.size(), labels.size());
  ConfusionMatrix counts;
  for (std::size_t i = 0; i < predictions.size(); ++i) count(counts, predictions[i], labels[i], i);
  return counts;
}

ConfusionMatrix confusion_matrix(const Tensor& predictions, const Tensor& labels) {
  if (predictions.dtype() != kInt64 || labels.dtype() != kInt64)
    fail("confusion_matrix: predictions ({}) and labels ({}) must be int64", predictions.dtype(),
         labels.dtype());
  if (predictions.shape() != labels.shape())
    fail("confusion_matrix: predictions of shape {} but labels of shape {}", predictions.shape(),
         labels.shape());
  const std::vector<double> predicted = predictions.to_vector(), expected = labels.to_vector();
  ConfusionMatrix counts;
  for (std::size_t i = 0; i < predicted.size(); ++i)
    count(counts, static_cast<int64_t>(predicted[i]), static_cast<int64_t>(expected[i]), i);
  return counts;
}

double accuracy(const ConfusionMatrix& counts) {
  return ratio_or_zero(counts.tp + counts.tn, counts.total());
}
double precision(const ConfusionMatrix& counts) {
  return ratio_or_zero(counts.tp, counts.tp + counts.fp);
}
double recall(const ConfusionMatrix& counts) {
  return ratio_or_zero(counts.tp, counts.tp + counts.fn);
}
double f1(const ConfusionMatrix& counts) {
  return ratio_or_zero(2 * counts.tp, 2 * counts.tp + counts.fp + counts.fn);
}

double f_beta(const ConfusionMatrix& counts, double beta) {
  const double b2 = beta * beta, tp = static_cast<double>(counts.tp);
  const double denominator =
      (1 + b2) * tp + b2 * static_cast<double>(counts.fn) + static_cast<double>(counts.fp);
  return denominator == 0 ? 0.0 : (1 + b2) * tp / denominator;
}

std::string format_confusion_matrix(const ConfusionMatrix& counts) {
  const std::string positive = "Predicted Positive", negative = "Predicted Negative";
  const std::size_t width = std::max(
      {positive.size(), fmt::formatted_size("{}", counts.tp), fmt::formatted_size("{}", counts.fp),
       fmt::formatted_size("{}", counts.fn), fmt::formatted_size("{}", counts.tn)});
  return fmt::format(
      "|                 | {1:<{0}} | {2:<{0}} |\n"
      "| Actual Positive | {3:<{0}} | {4:<{0}} |\n"
      "| Actual Negative | {5:<{0}} | {6:<{0}} |\n",
      width, positive, negative, counts.tp, counts.fn, counts.fp, counts.tn);
}

std::string format_metrics(const ConfusionMatrix& counts) {
  return fmt::format(
      "accuracy  {:.4f}  ({}/{})\n"
      "precision {:.4f}  ({}/{})\n"
      "recall    {:.4f}  ({}/{})\n"
      "F1        {:.4f}\n",
      accuracy(counts), counts.tp + counts.tn, counts.total(), precision(counts), counts.tp,
      counts.tp + counts.fp, recall(counts), counts.tp, counts.tp + counts.fn, f1(counts));
}

nlohmann::json to_json(const ConfusionMatrix& counts) {
  return {{"accuracy", accuracy(counts)},
          {"precision", precision(counts)},
          {"recall", recall(counts)},
          {"f1", f1(counts)},
          {"tp", counts.tp},
          {"fp", counts.fp},
          {"fn", counts.fn},
          {"tn", counts.tn},
          {"n", counts.total()}};
}

}  // namespace tapegrad::report
