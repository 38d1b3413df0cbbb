#include "examples/common/batching.hpp"

#include <algorithm>
#include <numeric>

#include "autograd/error.hpp"
#include "autograd/factories.hpp"
#include "autograd/generator.hpp"
#include "examples/common/vocabulary.hpp"

namespace tapegrad::text {

Batch make_batch(const std::vector<ModelInput>& inputs, const std::vector<int>& labels,
                 std::span<const int64_t> indices) {
  if (indices.empty()) fail("make_batch: no indices");
  if (labels.size() != inputs.size())
    fail("make_batch: {} inputs but {} labels", inputs.size(), labels.size());
  std::size_t length = 1;
  std::size_t ngram_length = 1;
  for (const int64_t index : indices) {
    if (index < 0 || index >= static_cast<int64_t>(inputs.size()))
      fail("make_batch: index {} is not in [0, {})", index, inputs.size());
    const ModelInput& input = inputs[static_cast<std::size_t>(index)];
    length = std::max(length, input.ids.size());
    ngram_length = std::max(ngram_length, input.ngrams.size());
  }
  const auto rows = static_cast<int64_t>(indices.size());
  Batch batch{Tensor::empty({rows, static_cast<int64_t>(length)}, kInt64),
              Tensor::empty({rows, static_cast<int64_t>(length)}, kBool),
              Tensor::empty({rows, static_cast<int64_t>(ngram_length)}, kInt64),
              Tensor::empty({rows}, kInt64)};
  for (std::size_t row = 0; row < indices.size(); ++row) {
    const auto example = static_cast<std::size_t>(indices[row]);
    const ModelInput& input = inputs[example];
    int64_t* row_ids = batch.ids.data<int64_t>() + row * length;
    bool* row_mask = batch.mask.data<bool>() + row * length;
    std::fill(row_ids, row_ids + length, Vocabulary::kPad);
    std::fill(row_mask, row_mask + length, false);
    std::copy(input.ids.begin(), input.ids.end(), row_ids);
    std::fill(row_mask, row_mask + input.ids.size(), true);
    if (input.ids.empty()) {
      row_ids[0] = Vocabulary::kUnk;
      row_mask[0] = true;
    }
    int64_t* row_ngrams = batch.ngrams.data<int64_t>() + row * ngram_length;
    std::fill(row_ngrams, row_ngrams + ngram_length, 0);
    std::copy(input.ngrams.begin(), input.ngrams.end(), row_ngrams);
    batch.labels.data<int64_t>()[row] = labels[example];
  }
  return batch;
}

BatchOrder::BatchOrder(int64_t dataset_size, int64_t batch_size, uint64_t seed,
                       std::vector<int64_t> lengths)
    : dataset_size_(dataset_size),
      batch_size_(batch_size),
      seed_(seed),
      lengths_(std::move(lengths)) {
  if (dataset_size < 1) fail("BatchOrder: dataset_size must be >= 1, got {}", dataset_size);
  if (batch_size < 1) fail("BatchOrder: batch_size must be >= 1, got {}", batch_size);
  if (!lengths_.empty() && static_cast<int64_t>(lengths_.size()) != dataset_size)
    fail("BatchOrder: {} lengths for {} examples (give one per example, or none)", lengths_.size(),
         dataset_size);
  order_ = permutation(0);
}

std::vector<int64_t> BatchOrder::permutation(int64_t epoch) const {
  // One stream per (seed, epoch): the golden-ratio step keeps nearby seeds' streams apart.
  Generator generator(seed_ ^ (0x9E3779B97F4A7C15ull * static_cast<uint64_t>(epoch + 1)));
  std::vector<int64_t> order(static_cast<std::size_t>(dataset_size_));
  std::iota(order.begin(), order.end(), int64_t{0});
  shuffle(order, generator);
  if (lengths_.empty()) return order;

  const auto size = static_cast<std::size_t>(dataset_size_);
  const auto batch = static_cast<std::size_t>(batch_size_);
  const std::size_t pool = batch * static_cast<std::size_t>(kBatchesPerPool);
  for (std::size_t start = 0; start < size; start += pool)
    std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(start),
                     order.begin() + static_cast<std::ptrdiff_t>(std::min(start + pool, size)),
                     [&](int64_t a, int64_t b) {
                       return lengths_[static_cast<std::size_t>(a)] <
                              lengths_[static_cast<std::size_t>(b)];
                     });
  std::vector<int64_t> whole_batches(size / batch);
  std::iota(whole_batches.begin(), whole_batches.end(), int64_t{0});
  shuffle(whole_batches, generator);
  std::vector<int64_t> bucketed;
  bucketed.reserve(size);
  for (const int64_t b : whole_batches) {
    const auto first =
        order.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(b) * batch);
    bucketed.insert(bucketed.end(), first, first + static_cast<std::ptrdiff_t>(batch));
  }
  bucketed.insert(bucketed.end(),
                  order.begin() + static_cast<std::ptrdiff_t>(whole_batches.size() * batch),
                  order.end());
  return bucketed;
}

std::vector<int64_t> BatchOrder::next() {
  if (position_.step == steps_per_epoch()) seek({position_.epoch + 1, 0});
  const int64_t begin = position_.step * batch_size_;
  const int64_t end = std::min(begin + batch_size_, dataset_size_);
  ++position_.step;
  return {order_.begin() + begin, order_.begin() + end};
}

void BatchOrder::seek(BatchPosition position) {
  if (position.epoch < 0 || position.step < 0 || position.step > steps_per_epoch())
    fail("BatchOrder::seek: position (epoch {}, step {}) is not in epochs >= 0, steps [0, {}]",
         position.epoch, position.step, steps_per_epoch());
  if (position.epoch != position_.epoch) order_ = permutation(position.epoch);
  position_ = position;
}

}  // namespace tapegrad::text
