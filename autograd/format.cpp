#include "autograd/format.hpp"

#include <algorithm>
#include <cmath>
#include <ostream>

#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

constexpr int64_t kSummarizeAbove = 1000;
constexpr int64_t kEdgeItems = 3;

// Chooses one number format for all the values, as PyTorch does: integers as "3.", large or
// tiny magnitudes in scientific notation, the rest with 4 decimals.
struct NumberStyle {
  DType dtype;
  bool integral = true;
  bool scientific = false;
  std::size_t width = 1;

  std::string format(double v) const {
    if (dtype == kBool) return v != 0 ? "True" : "False";
    if (dtype == kInt64 || dtype == kInt8) return fmt::format("{}", static_cast<int64_t>(v));
    if (!std::isfinite(v)) return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
    if (scientific) return fmt::format("{:.4e}", v);
    return integral ? fmt::format("{:.0f}.", v) : fmt::format("{:.4f}", v);
  }
};

NumberStyle choose_style(const Tensor& t, const std::vector<double>& values) {
  NumberStyle style{t.dtype()};
  double max_abs = 0, min_abs = INFINITY;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    style.integral = style.integral && v == std::round(v);
    max_abs = std::max(max_abs, std::abs(v));
    if (v != 0) min_abs = std::min(min_abs, std::abs(v));
  }
  style.scientific =
      max_abs >= 1e8 || (!style.integral && (min_abs < 1e-4 || max_abs / min_abs > 1e3));
  for (double v : values) style.width = std::max(style.width, style.format(v).size());
  return style;
}

// Appends the slice of t at `offset` from dim d on, indenting nested rows under their bracket.
void append_dim(std::string& text, const Tensor& t, int64_t d, int64_t offset, bool summarize,
                const NumberStyle& style, std::size_t indent) {
  const int64_t size = t.shape()[d];
  const bool elide = summarize && size > 2 * kEdgeItems;
  const bool last = d == t.dim() - 1;
  text += '[';
  for (int64_t i = 0; i < size; ++i) {
    if (elide && i == kEdgeItems) {
      text += last ? "..., " : fmt::format("...,\n{:{}}", "", indent + 1);
      i = size - kEdgeItems;
    }
    const int64_t at = offset + i * t.strides()[d];
    if (last) {
      const double v = dispatch_all(t.dtype(), [&]<class T>() {
        return static_cast<double>(static_cast<const T*>(t.storage()->data())[at]);
      });
      text += fmt::format("{:>{}}", style.format(v), style.width);
    } else {
      append_dim(text, t, d + 1, at, summarize, style, indent + 1);
    }
    if (i + 1 < size)
      text += last ? ", " : fmt::format(",{:\n>{}}{:{}}", "", t.dim() - d - 1, "", indent + 1);
  }
  text += ']';
}

// The values shown: all of them, or only the edges when summarizing.
std::vector<double> shown_values(const Tensor& t, bool summarize) {
  if (!summarize) return t.to_vector();
  std::vector<double> values;
  const std::vector<double> all = t.to_vector();
  const int64_t step = std::max<int64_t>(1, static_cast<int64_t>(all.size()) / 4096);
  for (std::size_t i = 0; i < all.size(); i += static_cast<std::size_t>(step))
    values.push_back(all[i]);
  return values;
}

}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "tensor(undefined)";
  std::string text = "tensor(";
  if (t.numel() == 0) {
    text += fmt::format("[], size=({})", fmt::join(t.shape(), ", "));
  } else {
    const bool summarize = t.numel() > kSummarizeAbove;
    const NumberStyle style = choose_style(t, shown_values(t, summarize));
    if (t.dim() == 0) {
      text += style.format(t.item());
    } else {
      append_dim(text, t, 0, t.storage_offset(), summarize, style, 7);
    }
  }
  if (t.dtype() == kFloat64 || t.dtype() == kInt8) text += fmt::format(", dtype={}", t.dtype());
  if (t.grad_fn())
    text += fmt::format(", grad_fn=<{}>", t.grad_fn()->op);
  else if (t.requires_grad())
    text += ", requires_grad=True";
  return text + ")";
}

std::ostream& operator<<(std::ostream& out, const Tensor& t) { return out << to_string(t); }

}  // namespace tapegrad
