#include "examples/common/plots.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

#include "autograd/error.hpp"
#include "examples/common/xml_text.hpp"

namespace tapegrad::report {
namespace {

void check_finite(const std::vector<double>& values, std::string_view op, std::string_view what) {
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i]))
      fail("{}: {} value {} at index {} is not finite", op, what, values[i], i);
}

// Round tick values covering [low, high], about `target` of them, at steps of 1, 2 or 5 × 10^k
// and at least `min_step`.
std::vector<double> nice_ticks(double low, double high, int target, double min_step = 0) {
  // A range a few ulps wide, or none, is widened: at so fine a step the tick counter k runs
  // near 1e17, where k + 1 == k, and the loop below would never end.
  if (high - low <= 1e-9 * std::max(std::abs(low), std::abs(high))) {
    const double pad = low == 0 ? 1 : std::abs(low) * 0.1;
    low -= pad;
    high += pad;
  }
  const double raw_step = (high - low) / target;
  const double magnitude = std::pow(10, std::floor(std::log10(raw_step)));
  const double normalized = raw_step / magnitude;
  const double step = std::max(min_step, (normalized < 1.5 ? 1
                                          : normalized < 3 ? 2
                                          : normalized < 7 ? 5
                                                           : 10) *
                                             magnitude);
  const double first = std::floor(low / step), last = std::ceil(high / step);
  std::vector<double> ticks;
  for (double k = first; k <= last; ++k) ticks.push_back(k * step);
  return ticks;
}

// A tick value with as many decimals as the step between ticks needs.
std::string tick_label(double value, double step) {
  const int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  return fmt::format("{:.{}f}", std::abs(value) < step * 1e-9 ? 0.0 : value, decimals);
}

// The piecewise-linear curve through `values` at integer positions 0, 1, ..., n-1: its smallest
// and largest value over positions [from, to].
std::pair<double, double> curve_range(const std::vector<double>& values, double from, double to) {
  const auto at = [&](double position) {
    const auto left = std::min(static_cast<std::size_t>(position), values.size() - 1);
    if (left + 1 == values.size()) return values[left];
    const double t = position - static_cast<double>(left);
    return values[left] * (1 - t) + values[left + 1] * t;
  };
  double low = std::min(at(from), at(to)), high = std::max(at(from), at(to));
  for (auto k = static_cast<std::size_t>(std::ceil(from)); static_cast<double>(k) < to; ++k) {
    low = std::min(low, values[k]);
    high = std::max(high, values[k]);
  }
  return {low, high};
}

}  // namespace

std::string ascii_curve(const std::vector<double>& values, int width, int height,
                        std::string_view title) {
  if (width < 2 || height < 2)
    fail("ascii_curve: width {} and height {} must be 2 or more", width, height);
  check_finite(values, "ascii_curve", title);
  if (values.empty()) return fmt::format("{} (no points)\n", title);
  // Not a structured binding: clang 14 cannot capture one in a lambda.
  const auto low_high = std::minmax_element(values.begin(), values.end());
  const auto low = low_high.first, high = low_high.second;
  const auto row_of = [&](double value) {
    if (*high == *low) return height / 2;
    return static_cast<int>(std::lround((*high - value) / (*high - *low) * (height - 1)));
  };
  std::vector<std::string> rows(height, std::string(width, ' '));
  const double positions_per_column = static_cast<double>(values.size() - 1) / (width - 1);
  const double last_position = static_cast<double>(values.size() - 1);
  for (int column = 0; column < width; ++column) {
    const double from = std::max(0.0, (column - 0.5) * positions_per_column);
    const double to = std::min(last_position, (column + 0.5) * positions_per_column);
    const auto [column_low, column_high] = curve_range(values, from, to);
    for (int row = row_of(column_high); row <= row_of(column_low); ++row) rows[row][column] = '*';
  }
  const std::string high_label = fmt::format("{:.4g}", *high),
                    low_label = fmt::format("{:.4g}", *low);
  const std::size_t label_width = std::max(high_label.size(), low_label.size());
  std::string out =
      fmt::format("{} ({} points, last {:.4g})\n", title, values.size(), values.back());
  for (int row = 0; row < height; ++row) {
    const std::string_view label = row == 0            ? std::string_view(high_label)
                                   : row == height - 1 ? std::string_view(low_label)
                                                       : std::string_view();
    out += fmt::format("{:>{}} |{}\n", label, label_width, rows[row]);
  }
  out += fmt::format("{:{}} +{:-<{}}\n", "", label_width, "", width);
  const std::string last_label = values.size() > 1 ? fmt::format("{}", values.size()) : "";
  out += fmt::format("{:{}}  1{:>{}}\n", "", label_width, last_label, width - 1);
  return out;
}

namespace {

constexpr std::string_view kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

struct Point {
  double x, y;
};

std::vector<Point> curve_points(const Curve& curve) {
  if (!curve.x.empty() && curve.x.size() != curve.values.size())
    fail("svg_line_chart: curve '{}' has {} x values but {} values", curve.name, curve.x.size(),
         curve.values.size());
  check_finite(curve.values, "svg_line_chart", curve.name);
  check_finite(curve.x, "svg_line_chart", curve.name);
  std::vector<Point> points;
  for (std::size_t i = 0; i < curve.values.size(); ++i)
    points.push_back({curve.x.empty() ? static_cast<double>(i + 1) : curve.x[i], curve.values[i]});
  return points;
}

// Maps data coordinates onto a rectangle of the picture.
struct Frame {
  double left, top, width, height;
  double x_low, x_high, y_low, y_high;
  double px(double x) const { return left + (x - x_low) / (x_high - x_low) * width; }
  double py(double y) const { return top + height - (y - y_low) / (y_high - y_low) * height; }
};

// One curve as a polyline (with a dot at each point when there are few) and its legend entry to the
// right of the frame at height legend_y.
void append_curve(std::string& svg, const Frame& frame, const std::vector<Point>& points,
                  std::string_view colour, std::string_view name, double legend_y) {
  auto out = std::back_inserter(svg);
  const bool few_points = points.size() <= 40;
  fmt::format_to(out, "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" points=\"", colour,
                 few_points ? 2 : 1.25);
  for (const Point& point : points)
    fmt::format_to(out, "{:.1f},{:.1f} ", frame.px(point.x), frame.py(point.y));
  fmt::format_to(out, "\"/>\n");
  if (few_points)
    for (const Point& point : points)
      fmt::format_to(out, "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.5\" fill=\"{}\"/>\n",
                     frame.px(point.x), frame.py(point.y), colour);
  const double legend_x = frame.left + frame.width + 16;
  fmt::format_to(out,
                 "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"{3}\" "
                 "stroke-width=\"2\"/>\n"
                 "<text x=\"{4:.1f}\" y=\"{1:.1f}\" dy=\"0.35em\">{5}</text>\n",
                 legend_x, legend_y, legend_x + 22, colour, legend_x + 28, xml_text(name, 22));
}

}  // namespace

std::string svg_line_chart(const std::vector<Curve>& curves, const LineChartOptions& options) {
  if (curves.empty()) fail("svg_line_chart: no curves");
  std::vector<std::vector<Point>> points;
  std::vector<std::string> panels;
  double x_low = std::numeric_limits<double>::infinity(), x_high = -x_low;
  bool whole_x = true;  // epochs and steps: no ticks between them
  for (const Curve& curve : curves) {
    points.push_back(curve_points(curve));
    if (std::find(panels.begin(), panels.end(), curve.panel) == panels.end())
      panels.push_back(curve.panel);
    for (const Point& point : points.back()) {
      x_low = std::min(x_low, point.x);
      x_high = std::max(x_high, point.x);
      whole_x = whole_x && point.x == std::round(point.x);
    }
  }
  if (x_low > x_high) x_low = 0, x_high = 1;
  if (x_low == x_high) x_low -= 0.5, x_high += 0.5;
  std::vector<double> x_ticks = nice_ticks(x_low, x_high, 8, whole_x ? 1 : 0);
  const double x_step = x_ticks[1] - x_ticks[0];
  std::erase_if(x_ticks,
                [&](double x) { return x < x_low - x_step * 1e-9 || x > x_high + x_step * 1e-9; });

  const double margin_left = 76, legend_width = 180, title_height = options.title.empty() ? 16 : 44;
  const double panel_gap = 64, plot_width = options.width - margin_left - legend_width;
  if (plot_width < 50 || options.panel_height < 50)
    fail("svg_line_chart: width {} and panel_height {} leave no room to plot", options.width,
         options.panel_height);
  const double total_height =
      title_height + static_cast<double>(panels.size()) * (options.panel_height + panel_gap);

  std::string svg;
  auto out = std::back_inserter(svg);
  fmt::format_to(out,
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1:.0f}\" "
                 "viewBox=\"0 0 {0} {1:.0f}\" font-family=\"sans-serif\" font-size=\"12\">\n"
                 "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
                 options.width, total_height);
  if (!options.title.empty())
    fmt::format_to(out,
                   "<text x=\"{:.1f}\" y=\"28\" font-size=\"16\" "
                   "text-anchor=\"middle\">{}</text>\n",
                   margin_left + plot_width / 2, xml_text(options.title));

  for (std::size_t panel = 0; panel < panels.size(); ++panel) {
    double y_low = std::numeric_limits<double>::infinity(), y_high = -y_low;
    for (std::size_t c = 0; c < curves.size(); ++c)
      if (curves[c].panel == panels[panel])
        for (const Point& point : points[c]) {
          y_low = std::min(y_low, point.y);
          y_high = std::max(y_high, point.y);
        }
    if (y_low > y_high) y_low = 0, y_high = 1;
    const std::vector<double> y_ticks = nice_ticks(y_low, y_high, 5);
    const double y_step = y_ticks[1] - y_ticks[0];
    const Frame frame{
        margin_left,
        title_height + static_cast<double>(panel) * (options.panel_height + panel_gap),
        plot_width,
        static_cast<double>(options.panel_height),
        x_low,
        x_high,
        y_ticks.front(),
        y_ticks.back()};
    fmt::format_to(out, "<g class=\"panel\">\n");
    for (double y : y_ticks)
      fmt::format_to(out,
                     "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" "
                     "y2=\"{1:.1f}\" stroke=\"#e5e5e5\"/>\n"
                     "<text x=\"{3:.1f}\" y=\"{1:.1f}\" dy=\"0.35em\" "
                     "text-anchor=\"end\">{4}</text>\n",
                     frame.left, frame.py(y), frame.left + frame.width, frame.left - 6,
                     tick_label(y, y_step));
    for (double x : x_ticks)
      fmt::format_to(out,
                     "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" "
                     "y2=\"{2:.1f}\" stroke=\"#e5e5e5\"/>\n"
                     "<text x=\"{0:.1f}\" y=\"{3:.1f}\" text-anchor=\"middle\">{4}</text>\n",
                     frame.px(x), frame.top, frame.top + frame.height,
                     frame.top + frame.height + 16, tick_label(x, x_step));
    fmt::format_to(out,
                   "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
                   "fill=\"none\" stroke=\"#333\"/>\n"
                   "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n"
                   "<text transform=\"translate({:.1f} {:.1f}) rotate(-90)\" "
                   "text-anchor=\"middle\">{}</text>\n",
                   frame.left, frame.top, frame.width, frame.height, frame.left + frame.width / 2,
                   frame.top + frame.height + 36, xml_text(options.x_label), frame.left - 56,
                   frame.top + frame.height / 2, xml_text(panels[panel]));
    double legend_y = frame.top + 8;
    for (std::size_t c = 0; c < curves.size(); ++c) {
      if (curves[c].panel != panels[panel]) continue;
      append_curve(svg, frame, points[c], kPalette[c % std::size(kPalette)], curves[c].name,
                   legend_y);
      legend_y += 18;
    }
    fmt::format_to(out, "</g>\n");
  }
  svg += "</svg>\n";
  return svg;
}

namespace {

constexpr double kCell = 18, kCharWidth = 6.8, kPanelGap = 36;
constexpr std::size_t kTokenChars = 16;

// White at 0, dark blue (matplotlib's Blues at 1) at 1.
std::string blue_scale(double t) {
  const auto mix = [&](int dark) { return static_cast<int>(std::lround(255 + (dark - 255) * t)); };
  return fmt::format("#{:02x}{:02x}{:02x}", mix(8), mix(48), mix(107));
}

double label_length(const std::vector<std::string>& tokens) {
  std::size_t longest = 1;
  for (const std::string& token : tokens)
    longest = std::max(longest, shown_chars(token, kTokenChars));
  return static_cast<double>(longest) * kCharWidth + 8;
}

}  // namespace

std::string svg_attention_heatmap(const std::vector<std::string>& tokens_query,
                                  const std::vector<std::string>& tokens_key, const Tensor& weights,
                                  std::string_view title) {
  const auto tq = static_cast<int64_t>(tokens_query.size()),
             tk = static_cast<int64_t>(tokens_key.size());
  const Shape& shape = weights.shape();
  const bool fits = (shape.size() == 2 || shape.size() == 3) && shape[shape.size() - 2] == tq &&
                    shape.back() == tk && (shape.size() == 2 || shape[0] > 0);
  if (!fits)
    fail(
        "svg_attention_heatmap: weights of shape {} do not fit {} query and {} key tokens: "
        "expected {} or [heads, {}, {}]",
        shape, tq, tk, Shape{tq, tk}, tq, tk);
  const int64_t heads = shape.size() == 3 ? shape[0] : 1;
  const std::vector<double> values = weights.to_vector();
  check_finite(values, "svg_attention_heatmap", "weight");
  double low = 0, high = 0;
  for (double value : values) low = std::min(low, value), high = std::max(high, value);
  const auto shade = [&](double value) {
    return blue_scale(high == low ? 0 : (value - low) / (high - low));
  };

  const double query_labels = label_length(tokens_query), key_labels = label_length(tokens_key);
  const double panel_width = query_labels + static_cast<double>(tk) * kCell;
  const double panel_height = 22 + key_labels + static_cast<double>(tq) * kCell;
  const auto columns = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(heads))));
  const int64_t rows = (heads + columns - 1) / columns;
  const double top = 40, scale_left = 16 + static_cast<double>(columns) * (panel_width + kPanelGap);
  const double width = scale_left + 90;
  const double height =
      std::max(top + static_cast<double>(rows) * (panel_height + kPanelGap), top + 240);

  std::string svg;
  auto out = std::back_inserter(svg);
  fmt::format_to(out,
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.0f}\" height=\"{1:.0f}\" "
                 "viewBox=\"0 0 {0:.0f} {1:.0f}\" font-family=\"sans-serif\" font-size=\"12\">\n"
                 "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
                 "<text x=\"16\" y=\"26\" font-size=\"16\">{2}</text>\n",
                 width, height, xml_text(title));
  for (int64_t head = 0; head < heads; ++head) {
    const double panel_left = 16 + static_cast<double>(head % columns) * (panel_width + kPanelGap);
    const double panel_top = top + static_cast<double>(head / columns) * (panel_height + kPanelGap);
    const double grid_left = panel_left + query_labels, grid_top = panel_top + 22 + key_labels;
    fmt::format_to(out,
                   "<g class=\"panel\">\n<text x=\"{:.1f}\" y=\"{:.1f}\" "
                   "font-size=\"13\">head {}</text>\n"
                   "<g font-family=\"monospace\" font-size=\"11\">\n",
                   panel_left, panel_top + 12, head + 1);
    for (int64_t q = 0; q < tq; ++q)
      fmt::format_to(out,
                     "<text x=\"{:.1f}\" y=\"{:.1f}\" dy=\"0.35em\" "
                     "text-anchor=\"end\">{}</text>\n",
                     grid_left - 4, grid_top + (static_cast<double>(q) + 0.5) * kCell,
                     xml_text(tokens_query[q], kTokenChars));
    for (int64_t k = 0; k < tk; ++k)
      fmt::format_to(out,
                     "<text transform=\"translate({:.1f} {:.1f}) rotate(-90)\" "
                     "dy=\"0.35em\">{}</text>\n",
                     grid_left + (static_cast<double>(k) + 0.5) * kCell, grid_top - 4,
                     xml_text(tokens_key[k], kTokenChars));
    fmt::format_to(out, "</g>\n");
    for (int64_t q = 0; q < tq; ++q)
      for (int64_t k = 0; k < tk; ++k) {
        const double value = values[static_cast<std::size_t>((head * tq + q) * tk + k)];
        fmt::format_to(out,
                       "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{}\" height=\"{}\" fill=\"{}\">"
                       "<title>head {}: {} \u2192 {} = {:.4f}</title></rect>\n",
                       grid_left + static_cast<double>(k) * kCell,
                       grid_top + static_cast<double>(q) * kCell, kCell, kCell, shade(value),
                       head + 1, xml_text(tokens_query[q]), xml_text(tokens_key[k]), value);
      }
    fmt::format_to(out,
                   "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" "
                   "height=\"{:.1f}\" fill=\"none\" stroke=\"#999\"/>\n</g>\n",
                   grid_left, grid_top, static_cast<double>(tk) * kCell,
                   static_cast<double>(tq) * kCell);
  }
  const double scale_top = top + 22, scale_height = 200;
  fmt::format_to(out,
                 "<g class=\"colour-scale\">\n"
                 "<defs><linearGradient id=\"attention-scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">"
                 "<stop offset=\"0\" stop-color=\"{0}\"/><stop offset=\"1\" stop-color=\"{1}\"/>"
                 "</linearGradient></defs>\n"
                 "<rect x=\"{2:.1f}\" y=\"{3:.1f}\" width=\"16\" height=\"{4:.1f}\" "
                 "fill=\"url(#attention-scale)\" stroke=\"#999\"/>\n"
                 "<text x=\"{5:.1f}\" y=\"{3:.1f}\" dy=\"0.35em\">{6:.3g}</text>\n"
                 "<text x=\"{5:.1f}\" y=\"{7:.1f}\" dy=\"0.35em\">{8:.3g}</text>\n</g>\n",
                 blue_scale(0), blue_scale(1), scale_left, scale_top, scale_height, scale_left + 22,
                 high, scale_top + scale_height, low);
  svg += "</svg>\n";
  return svg;
}

}  // namespace tapegrad::report
