#include "examples/common/spam_evaluation.hpp"

#include <algorithm>
#include <span>

#include "autograd/autograd.hpp"
#include "examples/common/batching.hpp"

namespace tapegrad::text {

Evaluation evaluate(SpamClassifier& model, const std::vector<ModelInput>& view,
                    const std::vector<int>& labels, const std::vector<int64_t>& indices) {
  NoGradGuard no_grad;
  model.eval();
  Evaluation result;
  std::vector<int> predictions;
  for (std::size_t start = 0; start < indices.size(); start += 128) {
    const std::span<const int64_t> chunk(indices.data() + start,
                                         std::min<std::size_t>(128, indices.size() - start));
    const Batch batch = make_batch(view, labels, chunk);
    const Tensor logits = model.forward(batch.ids, batch.mask, batch.ngrams);
    result.loss += cross_entropy(logits, batch.labels, {.reduction = Reduction::Sum}).item();
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      const auto row = static_cast<int64_t>(i);
      result.margins.push_back(logits.at({row, 1}) - logits.at({row, 0}));
      predictions.push_back(result.margins.back() >= 0 ? 1 : 0);
      result.labels.push_back(labels[static_cast<std::size_t>(chunk[i])]);
    }
  }
  result.loss /= static_cast<double>(std::max<std::size_t>(1, indices.size()));
  result.confusion = report::confusion_matrix(predictions, result.labels);
  return result;
}

report::ConfusionMatrix calibrated_confusion(const Evaluation& evaluation,
                                             const report::Calibration& calibration) {
  std::vector<int> predictions;
  for (const double margin : evaluation.margins)
    predictions.push_back(
        report::spam_probability(margin, calibration.temperature) >= calibration.threshold ? 1 : 0);
  return report::confusion_matrix(predictions, evaluation.labels);
}

}  // namespace tapegrad::text
