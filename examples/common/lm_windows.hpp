// Text as a byte-level language model reads it (train_lm, prune_lm): windows of bytes as token
// ids and next-byte targets, their loss, and the loss over a whole text.
#pragma once

#include <string>
#include <vector>

#include "autograd/ops/loss.hpp"
#include "nn/decoder.hpp"

namespace tapegrad::text {

// Bytes as token ids [rows, length], row r from text[starts[r]].
Tensor byte_ids(const std::string& text, const std::vector<int64_t>& starts, int64_t length);

// Σ cross-entropy (nats) of the model predicting text[start + 1 .. start + length] from
// text[start .. start + length - 1], for each start, in one batch.
Tensor windows_loss(nn::DecoderLM& model, const std::string& text,
                    const std::vector<int64_t>& starts, int64_t length, Reduction reduction);

// The mean cross-entropy in nats per byte of `model` over the whole of `text`, every byte but the
// first predicted once with at least half a context before it, as Hugging Face's strided
// perplexity: windows of the context length T (or of the whole text, if shorter) step by S = T/2,
// and each scores only the predictions the windows before it did not make: the first all T, the
// next ones their last S (the last window ends at the end of the text). A byte sees T/2 to T bytes
// before it (non-overlapping windows would give it 0 to T - 1, and a higher figure).
// Bits per byte = nats / ln 2.
double mean_nats_per_byte(nn::DecoderLM& model, const std::string& text, int64_t batch_size);

}  // namespace tapegrad::text
