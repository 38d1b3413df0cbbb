#include "examples/common/lm_windows.hpp"

#include <algorithm>
#include <numeric>

#include "autograd/autograd.hpp"

namespace tapegrad::text {

Tensor byte_ids(const std::string& text, const std::vector<int64_t>& starts, int64_t length) {
  std::vector<int64_t> ids;
  ids.reserve(starts.size() * static_cast<std::size_t>(length));
  for (const int64_t start : starts)
    for (int64_t i = 0; i < length; ++i)
      ids.push_back(static_cast<unsigned char>(text[static_cast<std::size_t>(start + i)]));
  return from_vector(ids, {static_cast<int64_t>(starts.size()), length});
}

Tensor windows_loss(nn::DecoderLM& model, const std::string& text,
                    const std::vector<int64_t>& starts, int64_t length, Reduction reduction) {
  std::vector<int64_t> next(starts);
  for (int64_t& start : next) ++start;
  const auto rows = static_cast<int64_t>(starts.size());
  const Tensor logits = model(byte_ids(text, starts, length));
  return cross_entropy(logits.view({rows * length, model.options.vocab_size}),
                       byte_ids(text, next, length).view({rows * length}),
                       {.reduction = reduction});
}

double mean_nats_per_byte(nn::DecoderLM& model, const std::string& text, int64_t batch_size) {
  NoGradGuard no_grad;
  model.eval();
  const auto predicted = static_cast<int64_t>(text.size()) - 1;
  const int64_t length = std::min(model.options.max_len, predicted);
  const int64_t stride = std::max<int64_t>(1, length / 2);
  double total = 0;
  std::vector<int64_t> starts, scored;  // per window: its first byte, its predictions that count
  const auto flush = [&] {
    if (starts.empty()) return;
    const std::vector<double> losses =
        windows_loss(model, text, starts, length, Reduction::None).to_vector();  // [rows, length]
    for (std::size_t row = 0; row < starts.size(); ++row) {
      const auto row_end = losses.begin() + static_cast<std::ptrdiff_t>((row + 1) * length);
      total += std::accumulate(row_end - scored[row], row_end, 0.0);
    }
    starts.clear();
    scored.clear();
  };
  // Bytes 1..done are scored; the next window predicts bytes end - length + 1 .. end.
  for (int64_t done = 0; done < predicted;) {
    const int64_t end = std::min(predicted, done == 0 ? length : done + stride);
    starts.push_back(end - length);
    scored.push_back(end - done);
    done = end;
    if (static_cast<int64_t>(starts.size()) == batch_size) flush();
  }
  flush();
  return total / static_cast<double>(predicted);
}

}  // namespace tapegrad::text
