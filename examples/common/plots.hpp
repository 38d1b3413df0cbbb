// Pictures of training: an ASCII curve for the terminal at the end of a run, and SVG files a
// browser opens: loss/accuracy curves and attention heatmaps. Every function returns the text;
// write it with tapegrad::write_file_atomically (autograd/io/atomic_file.hpp).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "autograd/tensor.hpp"

namespace tapegrad::report {

// A line chart in text, `width` columns by `height` rows of plot area, the y axis labelled with the
// maximum (top) and minimum (bottom), the x axis with the first and last point's number:
//   loss (12 points, last 0.1234)
//   0.6931 |*
//          | ***
//   0.1234 |    ********
//          +------------
//           1         12
// Values are spread over the width (several per column when there are more values than columns). An
// Error if width or height is below 2 or a value is not finite.
std::string ascii_curve(const std::vector<double>& values, int width = 60, int height = 12,
                        std::string_view title = "loss");

struct Curve {
  std::string name;            // the legend text, e.g. "dev loss"
  std::vector<double> values;  // y values
  std::vector<double> x = {};  // their x values; empty means 1, 2, ..., values.size()
  std::string panel = "";      // curves with one panel name share a y axis titled with it
};

struct LineChartOptions {
  std::string title = "";
  std::string x_label = "epoch";
  int width = 760;         // pixels, legend included
  int panel_height = 240;  // pixels of plot area per panel
};

// An SVG of the curves, one panel per distinct panel name (in order of first appearance, stacked
// top to bottom, e.g. "loss" above "accuracy"), each with ticks, grid lines and a legend. An Error
// if there are no curves, a curve's x and values differ in size, or a number is not finite.
std::string svg_line_chart(const std::vector<Curve>& curves, const LineChartOptions& options = {});

// An SVG of attention weights [heads, Tq, Tk] or [Tq, Tk]: one panel per head, query tokens down
// the left, key tokens (rotated) along the top, cells from white (the smallest weight, or 0) to
// dark blue (the largest), each cell's value in its tooltip, and a colour scale. Tokens are shown
// XML-escaped (invalid UTF-8 as U+FFFD, control characters as \n, \t, \xHH) and shortened to 16
// characters; the tooltips hold them whole. An Error naming both shapes if the weights do not fit
// the token lists, or if a weight is not finite.
std::string svg_attention_heatmap(const std::vector<std::string>& tokens_query,
                                  const std::vector<std::string>& tokens_key, const Tensor& weights,
                                  std::string_view title);

}  // namespace tapegrad::report
