#include "autograd/format.hpp"

#include <algorithm>
#include <cmath>
#include <ostream>

#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

// PyTorch's print options, at their defaults.
constexpr int64_t kSummarizeAbove = 1000;
constexpr int64_t kEdgeItems = 3;
constexpr int64_t kLineWidth = 80;

// One number format for all the values, chosen as PyTorch's _Formatter does from the nonzero
// finite values: integers as "3.", in scientific notation when their magnitudes span more
// than 1e3 or pass 1e8 (or, for non-integers, go below 1e-4), the rest with 4 decimals.
struct NumberStyle {
  DType dtype;
  bool integral = true;
  bool scientific = false;
  std::size_t width = 1;

  std::string unpadded(double v) const {
    if (dtype == kBool) return v != 0 ? "True" : "False";
    if (!is_floating(dtype)) return fmt::format("{}", static_cast<int64_t>(v));
    if (!std::isfinite(v)) return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
    if (scientific) return fmt::format("{:.4e}", v);
    return integral ? fmt::format("{:.0f}.", v) : fmt::format("{:.4f}", v);
  }
  std::string format(double v) const { return fmt::format("{:>{}}", unpadded(v), width); }
};

NumberStyle choose_style(DType dtype, const std::vector<double>& values) {
  NumberStyle style{dtype};
  // The values that choose the style and width: all of an integer dtype's, a floating
  // dtype's nonzero finite ones.
  std::vector<double> measured;
  for (double v : values)
    if (!is_floating(dtype) || (std::isfinite(v) && v != 0)) measured.push_back(v);
  if (is_floating(dtype) && !measured.empty()) {
    double max_abs = 0, min_abs = INFINITY;
    for (double v : measured) {
      style.integral = style.integral && v == std::ceil(v);
      max_abs = std::max(max_abs, std::abs(v));
      min_abs = std::min(min_abs, std::abs(v));
    }
    style.scientific =
        max_abs / min_abs > 1e3 || max_abs > 1e8 || (!style.integral && min_abs < 1e-4);
  }
  for (double v : measured) style.width = std::max(style.width, style.unpadded(v).size());
  return style;
}

double value_at(const Tensor& t, int64_t offset) {
  return dispatch_all(t.dtype(), [&]<class T>() {
    return static_cast<double>(static_cast<const T*>(t.storage()->data())[offset]);
  });
}

// The values printed, which alone choose the style: all of them, or when summarizing the first
// and last kEdgeItems along each dim (torch's get_summarized_data).
void collect_shown(const Tensor& t, int64_t d, int64_t offset, bool summarize,
                   std::vector<double>& values) {
  const int64_t size = t.shape()[d];
  for (int64_t i = 0; i < size; ++i) {
    if (summarize && size > 2 * kEdgeItems && i == kEdgeItems) i = size - kEdgeItems;
    const int64_t at = offset + i * t.strides()[d];
    if (d == t.dim() - 1)
      values.push_back(value_at(t, at));
    else
      collect_shown(t, d + 1, at, summarize, values);
  }
}

// Appends the slice of t at `offset` from dim d on, indenting nested rows under their bracket.
// Rows are parted by as many newlines as they have dims; values by ", ", wrapped to a new line
// once a line holds as many as fit in kLineWidth. An elided middle counts as one item.
void append_dim(std::string& text, const Tensor& t, int64_t d, int64_t offset, bool summarize,
                const NumberStyle& style, std::size_t indent) {
  const int64_t size = t.shape()[d];
  const bool elide = summarize && size > 2 * kEdgeItems;
  const bool last = d == t.dim() - 1;
  const std::string line_break =
      fmt::format(",{:\n>{}}{:{}}", "", last ? 1 : t.dim() - d - 1, "", indent + 1);
  // Values per line: as many as fit after the indent, each with its ", ".
  const int64_t fit =
      (kLineWidth - static_cast<int64_t>(indent)) / static_cast<int64_t>(style.width + 2);
  const int64_t per_line = last ? std::max<int64_t>(1, fit) : 1;
  int64_t items = 0;
  const auto begin_item = [&] {
    if (items > 0) text += items % per_line == 0 ? line_break : ", ";
    ++items;
  };
  text += '[';
  for (int64_t i = 0; i < size; ++i) {
    if (elide && i == kEdgeItems) {
      begin_item();
      text += last ? " ..." : "...";
      i = size - kEdgeItems;
    }
    begin_item();
    const int64_t at = offset + i * t.strides()[d];
    if (last)
      text += style.format(value_at(t, at));
    else
      append_dim(text, t, d + 1, at, summarize, style, indent + 1);
  }
  text += ']';
}

}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "tensor(undefined)";
  std::string text = "tensor(";
  const std::size_t indent = text.size();
  std::vector<std::string> suffixes;
  if (t.numel() == 0) {
    text += "[]";
    if (t.dim() != 1) suffixes.push_back(fmt::format("size=({})", fmt::join(t.shape(), ", ")));
    if (t.dtype() != kFloat32) suffixes.push_back(fmt::format("dtype={}", t.dtype()));
  } else {
    const bool summarize = t.numel() > kSummarizeAbove;
    std::vector<double> shown;
    if (t.dim() == 0)
      shown.push_back(value_at(t, t.storage_offset()));
    else
      collect_shown(t, 0, t.storage_offset(), summarize, shown);
    const NumberStyle style = choose_style(t.dtype(), shown);
    if (t.dim() == 0)
      text += style.format(shown[0]);
    else
      append_dim(text, t, 0, t.storage_offset(), summarize, style, indent);
    if (t.dtype() != kFloat32 && t.dtype() != kInt64 && t.dtype() != kBool)
      suffixes.push_back(fmt::format("dtype={}", t.dtype()));
  }
  if (t.grad_fn())
    suffixes.push_back(fmt::format("grad_fn=<{}>", t.grad_fn()->op));
  else if (t.requires_grad())
    suffixes.push_back("requires_grad=True");
  // A suffix goes on the last line unless that would pass kLineWidth, measured as torch's
  // _add_suffixes does: 2 more than the line's length, until a suffix starts a new line.
  const std::size_t newline = text.rfind('\n');
  std::size_t measured = newline == std::string::npos ? text.size() + 2 : text.size() - newline + 1;
  for (const std::string& suffix : suffixes) {
    if (static_cast<int64_t>(measured + suffix.size() + 2) > kLineWidth) {
      text += fmt::format(",\n{:{}}{}", "", indent, suffix);
      measured = indent + suffix.size();
    } else {
      text += fmt::format(", {}", suffix);
      measured += suffix.size() + 2;
    }
  }
  return text + ")";
}

std::ostream& operator<<(std::ostream& out, const Tensor& t) { return out << to_string(t); }

}  // namespace tapegrad
