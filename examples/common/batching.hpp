// Batches for training: which examples each step takes (BatchOrder), and their padded tensors
// (make_batch).
//
// BatchOrder shuffles the example indices anew each epoch with a Generator seeded from
// (seed, epoch), so a position (epoch, step) alone fixes every batch that follows it: a checkpoint
// saves position() and a resumed run calls seek() to take up exactly where it stopped. The last
// batch of an epoch is shorter when batch_size does not divide the dataset size.
//
// Given the examples' lengths, BatchOrder also buckets, as torchtext's BucketIterator: the
// shuffled order is cut into pools of kBatchesPerPool batches, each pool sorted by length, so a
// batch holds examples of about one length and make_batch pads little; then the whole batches are
// shuffled among themselves (a short last batch stays last), so the lengths do not rise and fall
// in step through the epoch. For mails of 8 to 512 tokens this halves the padded tokens a step
// computes on.
//
// make_batch pads each row with <pad> up to the longest sequence in the batch, and each row's
// n-gram ids with 0 up to the most n-grams. The mask is true on
// real tokens (tapegrad's one mask polarity). An empty sequence becomes a single <unk> with mask
// true: "nothing known here" is what the model sees, and no row of the mask is ever all false
// (a fully masked row would leave attention and masked_mean nothing to average).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "autograd/tensor.hpp"

namespace tapegrad::text {

// One message as the classifier reads it.
struct ModelInput {
  std::vector<int64_t> ids;     // token ids
  std::vector<int64_t> ngrams;  // hashed character n-gram ids (char_ngrams.hpp), each >= 1
};

struct Batch {
  Tensor ids;     // int64 [B, T], <pad> after each row's tokens
  Tensor mask;    // bool [B, T], true = real token
  Tensor ngrams;  // int64 [B, G] (G >= 1), 0 after each row's n-gram ids
  Tensor labels;  // int64 [B]
};

// Rows `indices` of `inputs` and `labels`, in the order of `indices`. An Error for no indices,
// an index out of range, or labels and inputs of different sizes.
Batch make_batch(const std::vector<ModelInput>& inputs, const std::vector<int>& labels,
                 std::span<const int64_t> indices);

struct BatchPosition {
  int64_t epoch = 0;
  int64_t step = 0;  // batches already taken in this epoch
  bool operator==(const BatchPosition&) const = default;
};

class BatchOrder {
 public:
  static constexpr int64_t kBatchesPerPool = 32;

  // An Error unless dataset_size >= 1, batch_size >= 1, and `lengths` is empty (no bucketing) or
  // holds one length per example.
  BatchOrder(int64_t dataset_size, int64_t batch_size, uint64_t seed,
             std::vector<int64_t> lengths = {});

  int64_t steps_per_epoch() const { return (dataset_size_ + batch_size_ - 1) / batch_size_; }
  // A permutation of [0, dataset_size): the order of the examples in `epoch`.
  std::vector<int64_t> permutation(int64_t epoch) const;
  // The indices of the batch at position(), then moves on by one step (into the next epoch after
  // its last batch).
  std::vector<int64_t> next();

  BatchPosition position() const { return position_; }
  // Continues from `position`; an Error if its epoch is negative or its step not in
  // [0, steps_per_epoch()] (the end of an epoch is the start of the next).
  void seek(BatchPosition position);

 private:
  int64_t dataset_size_;
  int64_t batch_size_;
  uint64_t seed_;
  std::vector<int64_t> lengths_;  // empty: no bucketing
  BatchPosition position_;
  std::vector<int64_t> order_;  // permutation(position_.epoch)
};

}  // namespace tapegrad::text
