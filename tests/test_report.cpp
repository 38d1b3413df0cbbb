// What people see: metrics and the confusion matrix, the progress bar (with a fake clock), the
// ASCII curve and the SVG pictures (checked for balanced tags, panels and escaping).
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "examples/common/metrics.hpp"
#include "examples/common/plots.hpp"
#include "examples/common/progress.hpp"
#include "examples/common/xml_text.hpp"

using namespace tapegrad;
using namespace tapegrad::report;

namespace {

std::size_t count_of(const std::string& text, std::string_view needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++count;
  return count;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

// An empty string if every tag is closed in order and every '&' starts an entity; otherwise what is
// wrong. Enough XML to catch unescaped text and broken nesting, not a parser.
std::string xml_problem(const std::string& xml) {
  std::vector<std::string> open;
  for (std::size_t i = 0; i < xml.size(); ++i) {
    if (xml[i] == '&') {
      const auto end = xml.find(';', i);
      const std::string entity = xml.substr(i, end == std::string::npos ? 8 : end - i + 1);
      if (entity != "&amp;" && entity != "&lt;" && entity != "&gt;" && entity != "&quot;" &&
          entity != "&apos;")
        return "bad entity " + entity;
    }
    if (xml[i] == '>') return "stray '>' at " + std::to_string(i);
    if (xml[i] != '<') continue;
    std::size_t end = i + 1;
    for (char quote = 0; end < xml.size() && (quote || xml[end] != '>'); ++end)
      if (xml[end] == '"') quote = quote ? 0 : '"';
    if (end == xml.size()) return "unterminated tag at " + std::to_string(i);
    const std::string tag = xml.substr(i + 1, end - i - 1);
    i = end;
    if (tag.starts_with('?')) continue;
    if (tag.starts_with('/')) {
      if (open.empty() || open.back() != tag.substr(1))
        return "unexpected </" + tag.substr(1) + ">";
      open.pop_back();
    } else if (!tag.ends_with('/')) {
      open.push_back(tag.substr(0, tag.find_first_of(" \n")));
    }
  }
  return open.empty() ? "" : "unclosed <" + open.back() + ">";
}

// A clock the test moves by hand.
struct FakeClock {
  double seconds = 100;
  std::function<double()> function() {
    return [this] { return seconds; };
  }
};

}  // namespace

TEST_CASE("report: confusion matrix counted by hand") {
  //                 predictions      labels
  const auto counts = confusion_matrix({1, 1, 0, 0, 1, 0, 0}, {1, 0, 1, 0, 1, 0, 0});
  CHECK(counts.tp == 2);
  CHECK(counts.fp == 1);
  CHECK(counts.fn == 1);
  CHECK(counts.tn == 3);
  CHECK(counts.total() == 7);
  CHECK(accuracy(counts) == doctest::Approx(5.0 / 7));
  CHECK(precision(counts) == doctest::Approx(2.0 / 3));
  CHECK(recall(counts) == doctest::Approx(2.0 / 3));
  CHECK(f1(counts) == doctest::Approx(2.0 / 3));
}

TEST_CASE("report: F1 is the harmonic mean of precision and recall") {
  const ConfusionMatrix counts{.tp = 3, .fp = 1, .fn = 5, .tn = 10};
  CHECK(precision(counts) == doctest::Approx(0.75));
  CHECK(recall(counts) == doctest::Approx(0.375));
  CHECK(f1(counts) == doctest::Approx(2 * 0.75 * 0.375 / (0.75 + 0.375)));
  CHECK(f1(counts) == doctest::Approx(0.5));
}

TEST_CASE("report: F-beta weighs precision and recall as the formula says") {
  // P = 0.75, R = 0.375: F_β = (1 + β²)·P·R / (β²·P + R)
  const ConfusionMatrix counts{.tp = 3, .fp = 1, .fn = 5, .tn = 10};
  CHECK(f_beta(counts, 1) == doctest::Approx(f1(counts)));
  CHECK(f_beta(counts, 0.5) == doctest::Approx(1.25 * 0.75 * 0.375 / (0.25 * 0.75 + 0.375)));
  CHECK(f_beta(counts, 2) == doctest::Approx(5 * 0.75 * 0.375 / (4 * 0.75 + 0.375)));
  CHECK(f_beta(ConfusionMatrix{.tn = 4}, 0.5) == 0);
}

TEST_CASE("report: the 0/0 cases are 0 as in scikit-learn's zero_division=0") {
  SUBCASE("all predictions negative: precision and F1 are 0") {
    const auto counts = confusion_matrix({0, 0, 0, 0}, {1, 0, 1, 0});
    CHECK(counts.tp == 0);
    CHECK(counts.fn == 2);
    CHECK(counts.tn == 2);
    CHECK(accuracy(counts) == doctest::Approx(0.5));
    CHECK(precision(counts) == 0);
    CHECK(recall(counts) == 0);
    CHECK(f1(counts) == 0);
  }
  SUBCASE(
      "no positive labels and no positive predictions: recall, precision "
      "and F1 are 0") {
    const auto counts = confusion_matrix({0, 0}, {0, 0});
    CHECK(accuracy(counts) == 1);
    CHECK(precision(counts) == 0);
    CHECK(recall(counts) == 0);
    CHECK(f1(counts) == 0);
  }
  SUBCASE("empty inputs: everything is 0") {
    const auto counts = confusion_matrix(std::vector<int>{}, std::vector<int>{});
    CHECK(counts.total() == 0);
    CHECK(accuracy(counts) == 0);
    CHECK(precision(counts) == 0);
    CHECK(recall(counts) == 0);
    CHECK(f1(counts) == 0);
  }
}

TEST_CASE("report: confusion matrix from int64 tensors, and bad inputs") {
  const Tensor predicted = from_vector(std::vector<int64_t>{1, 0, 1, 1}, {4});
  const Tensor labels = from_vector(std::vector<int64_t>{1, 1, 0, 1}, {4});
  const auto counts = confusion_matrix(predicted, labels);
  CHECK(counts.tp == 2);
  CHECK(counts.fp == 1);
  CHECK(counts.fn == 1);
  CHECK(counts.tn == 0);
  CHECK_THROWS_WITH_AS(confusion_matrix(predicted, from_vector(std::vector<int64_t>{1, 0}, {2})),
                       doctest::Contains("[4] but labels of shape [2]"), Error);
  CHECK_THROWS_WITH_AS(confusion_matrix(predicted.to(kFloat32), labels),
                       doctest::Contains("must be int64"), Error);
  CHECK_THROWS_WITH_AS(confusion_matrix({1, 2}, {1, 0}),
                       doctest::Contains("at index 1 prediction 2"), Error);
  CHECK_THROWS_WITH_AS(confusion_matrix({1}, {1, 0}),
                       doctest::Contains("1 predictions but 2 labels"), Error);
}

TEST_CASE("report: the confusion matrix layout") {
  CHECK(format_confusion_matrix({.tp = 12, .fp = 1, .fn = 3, .tn = 840}) ==
        "|                 | Predicted Positive | Predicted Negative |\n"
        "| Actual Positive | 12                 | 3                  |\n"
        "| Actual Negative | 1                  | 840                |\n");
  const std::string wide =
      format_confusion_matrix({.tp = 1234567890123456789, .fp = 0, .fn = 0, .tn = 0});
  const auto lines = lines_of(wide);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].size() == lines[1].size());
  CHECK(lines[1].size() == lines[2].size());
  CHECK(lines[1].find("| 1234567890123456789 |") != std::string::npos);
}

TEST_CASE("report: metrics as text and JSON") {
  const ConfusionMatrix counts{.tp = 3, .fp = 1, .fn = 5, .tn = 11};
  CHECK(format_metrics(counts) ==
        "accuracy  0.7000  (14/20)\n"
        "precision 0.7500  (3/4)\n"
        "recall    0.3750  (3/8)\n"
        "F1        0.5000\n");
  const nlohmann::json json = to_json(counts);
  CHECK(json.size() == 9);
  CHECK(json["accuracy"].get<double>() == doctest::Approx(0.7));
  CHECK(json["precision"].get<double>() == doctest::Approx(0.75));
  CHECK(json["recall"].get<double>() == doctest::Approx(0.375));
  CHECK(json["f1"].get<double>() == doctest::Approx(0.5));
  CHECK(json["tp"] == 3);
  CHECK(json["fp"] == 1);
  CHECK(json["fn"] == 5);
  CHECK(json["tn"] == 11);
  CHECK(json["n"] == 20);
}

TEST_CASE("report: progress bar rate and ETA from the clock") {
  FakeClock clock;
  std::ostringstream out;
  ProgressBar bar(580, "epoch 3", {.bar_width = 10}, out, /*is_terminal=*/false, clock.function());
  clock.seconds += 2;
  bar.update(116, "loss 0.412");  // 20%: a line; 58 seq/s, 464 left = 8 s
  CHECK(out.str() == "epoch 3 [##........] 116/580 | loss 0.412 | 58.0 seq/s | ETA 0:08\n");
  out.str("");
  clock.seconds += 8;
  bar.finish();  // 116 in 10 s
  CHECK(out.str() == "epoch 3 [##........] 116/580 | loss 0.412 | 11.6 seq/s | 0:10\n");
  out.str("");
  bar.finish();
  CHECK(out.str().empty());
}

TEST_CASE("report: progress bar redraws one line on a terminal, throttled") {
  FakeClock clock;
  std::ostringstream out;
  {
    ProgressBar bar(1000, "train", {.unit = "it", .bar_width = 4}, out,
                    /*is_terminal=*/true, clock.function());
    clock.seconds += 1;
    bar.update(500, "loss 1.5");
    CHECK(out.str() == "\rtrain [##..] 500/1000 | loss 1.5 | 500 it/s | ETA 0:01");
    clock.seconds += 0.0625;  // too soon: no redraw
    bar.update(510);
    CHECK(count_of(out.str(), "\r") == 1);
    clock.seconds += 0.0625;
    bar.update(600);  // a shorter line: blanks cover the leftovers of the longer one
    CHECK(out.str().ends_with("\rtrain [##..] 600/1000 | 533 it/s | ETA 0:01" +
                              std::string(11, ' ')));
    CHECK(out.str().find('\n') == std::string::npos);
  }  // the destructor finishes the line
  CHECK(out.str().ends_with("\rtrain [##..] 600/1000 | 533 it/s | 0:01    \n"));
  CHECK(count_of(out.str(), "\r") == 3);
}

TEST_CASE("report: progress bar prints few plain lines when not on a terminal") {
  FakeClock clock;
  std::ostringstream out;
  ProgressBar bar(1000, "eval", {.plain_seconds = 30}, out,
                  /*is_terminal=*/false, clock.function());
  for (int done = 1; done <= 1000; ++done) {
    clock.seconds += 1.0 / 128;
    bar.update(done);
  }
  bar.finish();
  const auto lines = lines_of(out.str());
  REQUIRE(lines.size() == 10);  // 10%, 20%, ..., 90%, then the final line
  CHECK(lines[0].find(" 100/1000 ") != std::string::npos);
  CHECK(lines[8].find(" 900/1000 ") != std::string::npos);
  CHECK(lines[9].find(" 1000/1000 | 128 seq/s | 0:08") != std::string::npos);
  CHECK(out.str().find('\r') == std::string::npos);
}

TEST_CASE(
    "report: progress bar prints slow work every plain_seconds when not "
    "on a terminal") {
  FakeClock clock;
  std::ostringstream out;
  ProgressBar bar(1000, "eval", {.plain_seconds = 30}, out,
                  /*is_terminal=*/false, clock.function());
  clock.seconds += 31;
  bar.update(5);  // under a tenth, but 31 s since the start
  clock.seconds += 10;
  bar.update(6);  // 10 s since the last line: quiet
  CHECK(lines_of(out.str()).size() == 1);
  CHECK(out.str().find(" 5/1000 ") != std::string::npos);
}

TEST_CASE("report: progress bar rejects bad counts") {
  FakeClock clock;
  std::ostringstream out;
  CHECK_THROWS_AS(ProgressBar(-1, "x", {}, out, false, clock.function()), Error);
  ProgressBar bar(10, "x", {}, out, false, clock.function());
  CHECK_THROWS_WITH_AS(bar.update(-3), doctest::Contains("done -3 is negative"), Error);
  bar.finish();
  CHECK_THROWS_WITH_AS(bar.update(3), doctest::Contains("already finished"), Error);
}

TEST_CASE("report: ascii_curve dimensions and labels") {
  const std::vector<double> losses{0.6931, 0.52, 0.41, 0.33, 0.29, 0.25, 0.22, 0.2, 0.19, 0.1234};
  const std::string chart = ascii_curve(losses, 40, 8, "loss");
  const auto lines = lines_of(chart);
  REQUIRE(lines.size() == 8 + 3);
  CHECK(lines[0] == "loss (10 points, last 0.1234)");
  CHECK(lines[1].starts_with("0.6931 |*"));
  CHECK(lines[8].starts_with("0.1234 |"));
  CHECK(lines[8].ends_with("*"));
  for (int row = 1; row <= 8; ++row) CHECK(lines[row].size() == 7 + 1 + 40);
  CHECK(lines[9] == "       +" + std::string(40, '-'));
  CHECK(lines[10] == "        1" + std::string(37, ' ') + "10");
  // A line, not dots: every column has a mark, the first at the top, the last at the bottom.
  for (std::size_t column = 8; column < lines[1].size(); ++column) {
    bool marked = false;
    for (int row = 1; row <= 8; ++row) marked = marked || lines[row][column] == '*';
    CHECK(marked);
  }
}

TEST_CASE(
    "report: ascii_curve with more points than columns, flat and empty "
    "curves") {
  std::vector<double> steps(500);
  for (std::size_t i = 0; i < steps.size(); ++i) steps[i] = i == 250 ? 9.0 : 1.0;
  const auto spiky = lines_of(ascii_curve(steps, 20, 5, "loss"));
  CHECK(spiky[1].starts_with("9 |"));
  CHECK(count_of(spiky[1], "*") == 1);  // the one spike survives the squeeze
  CHECK(spiky[5].starts_with("1 |"));
  const auto flat = lines_of(ascii_curve({2.0, 2.0, 2.0}, 10, 5, "acc"));
  CHECK(flat[1] == "2 |          ");
  CHECK(flat[3] == "  |**********");
  CHECK(ascii_curve({}, 10, 5, "loss") == "loss (no points)\n");
  CHECK_THROWS_AS(ascii_curve({1.0}, 1, 5), Error);
  CHECK_THROWS_WITH_AS(ascii_curve({1.0, std::nan("")}),
                       doctest::Contains("at index 1 is not finite"), Error);
}

TEST_CASE("report: xml_text escapes markup, control characters and invalid UTF-8") {
  CHECK(xml_text("a<b>&\"c'") == "a&lt;b&gt;&amp;&quot;c&apos;");
  CHECK(xml_text("line\n\tend\x7f\x02") == "line\\n\\tend\\x7F\\x02");
  CHECK(xml_text("caf\xc3\xa9 \xe2\x82\xac") == "caf\xc3\xa9 \xe2\x82\xac");  // é €: kept
  CHECK(xml_text("\xff|\xc3|\xc0\xaf|\xed\xa0\x80") ==
        "\uFFFD|\uFFFD|\uFFFD\uFFFD|\uFFFD\uFFFD\uFFFD");  // stray, cut, overlong, surrogate
  CHECK(xml_text("unsubscribe-immediately", 5) == "unsub…");
  CHECK(xml_text("a&b", 5) == "a&amp;b");
  CHECK(xml_text("\xc3\xa9t\xc3\xa9s", 2) == "\xc3\xa9t…");  // counts characters, not bytes
  CHECK(shown_chars("\xc3\xa9t\xc3\xa9s", 2) == 3);
  CHECK(shown_chars("a&b", 5) == 3);
}

TEST_CASE("report: the XML checker catches what it is for") {
  CHECK(xml_problem("<svg><g><text>a &amp; b</text></g></svg>").empty());
  CHECK(xml_problem("<svg><g></svg>") == "unexpected </svg>");
  CHECK(xml_problem("<svg><text>a < b</text></svg>") != "");
  CHECK(xml_problem("<svg><text>a & b</text></svg>") != "");
  CHECK(xml_problem("<svg>") == "unclosed <svg>");
}

TEST_CASE("report: svg_line_chart has a panel per axis, ticks and a legend") {
  const std::vector<Curve> curves{
      {.name = "train loss", .values = {0.69, 0.41, 0.3, 0.22}, .panel = "loss"},
      {.name = "dev loss", .values = {0.66, 0.45, 0.35, 0.33}, .panel = "loss"},
      {.name = "train acc", .values = {0.6, 0.85, 0.9, 0.95}, .panel = "accuracy"},
      {.name = "dev acc & <F1>", .values = {0.62, 0.8, 0.88, 0.9}, .panel = "accuracy"}};
  const std::string svg = svg_line_chart(curves, {.title = "spam classifier"});
  CHECK(xml_problem(svg) == "");
  CHECK(svg.starts_with("<?xml"));
  CHECK(count_of(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"") == 1);
  CHECK(count_of(svg, "<g class=\"panel\">") == 2);
  CHECK(count_of(svg, "<polyline") == 4);
  CHECK(svg.find(">dev acc &amp; &lt;F1&gt;</text>") != std::string::npos);
  CHECK(svg.find(">accuracy</text>") != std::string::npos);
  CHECK(svg.find(">epoch</text>") != std::string::npos);
  CHECK(svg.find(">0.7</text>") != std::string::npos);  // loss ticks at steps of 0.1
  CHECK(svg.find(">2</text>") != std::string::npos);    // epochs: whole numbers only
  CHECK(svg.find(">1.5</text>") == std::string::npos);
  CHECK_THROWS_AS(svg_line_chart({}), Error);
  CHECK_THROWS_WITH_AS(svg_line_chart({{.name = "a", .values = {1, 2}, .x = {1}}}),
                       doctest::Contains("curve 'a' has 1 x values but 2 values"), Error);
}

TEST_CASE("report: svg_line_chart of a flat curve, or one a few ulps from flat, has ticks") {
  const double f1 = 0.98666666666666669;
  for (const double other : {f1, std::nextafter(f1, 1.0), 0.0}) {
    const std::vector<double> values =
        other == 0 ? std::vector<double>{0, 0} : std::vector<double>{f1, other, f1};
    const std::string svg = svg_line_chart({{.name = "test F1", .values = values}});
    CHECK(xml_problem(svg) == "");
    CHECK(count_of(svg, "<polyline") == 1);
    CHECK(count_of(svg, "<line") < 40);  // a handful of ticks, not one per representable value
  }
}

TEST_CASE("report: svg_attention_heatmap draws a panel per head and escapes tokens") {
  const std::vector<std::string> query{"<b>", "free", "a&b"}, key{"x", "\"y\"", "z\x01", "\xff"};
  Generator generator(3);
  const Tensor weights = softmax(randn({2, 3, 4}, {}, generator), -1);
  const std::string svg = svg_attention_heatmap(query, key, weights, "layer 1 <attention>");
  CHECK(xml_problem(svg) == "");
  CHECK(count_of(svg, "<g class=\"panel\">") == 2);
  CHECK(count_of(svg, "<title>") == 2 * 3 * 4);
  CHECK(svg.find(">&lt;b&gt;</text>") != std::string::npos);
  CHECK(svg.find(">a&amp;b</text>") != std::string::npos);
  CHECK(svg.find(">&quot;y&quot;</text>") != std::string::npos);
  CHECK(svg.find(">z\\x01</text>") != std::string::npos);
  CHECK(svg.find(">\uFFFD</text>") != std::string::npos);
  CHECK(svg.find("layer 1 &lt;attention&gt;") != std::string::npos);
  CHECK(svg.find("rotate(-90)") != std::string::npos);
  CHECK(svg.find(fmt::format("head 2: free \u2192 x = {:.4f}</title>", weights.at({1, 1, 0}))) !=
        std::string::npos);
  CHECK(svg.find("<b>") == std::string::npos);
}

TEST_CASE("report: svg_attention_heatmap of one head, and of the wrong shape") {
  const Tensor weights = from_vector(std::vector<double>{1, 0, 0.25, 0.75}, {2, 2});
  const std::string svg = svg_attention_heatmap({"a", "b"}, {"c", "d"}, weights, "one head");
  CHECK(xml_problem(svg) == "");
  CHECK(count_of(svg, "<g class=\"panel\">") == 1);
  CHECK(svg.find("fill=\"#ffffff\"><title>head 1: a \u2192 d = 0.0000") != std::string::npos);
  CHECK(svg.find("fill=\"#08306b\"><title>head 1: a \u2192 c = 1.0000") != std::string::npos);
  CHECK_THROWS_WITH_AS(svg_attention_heatmap({"a", "b", "c"}, {"c", "d"}, weights, "t"),
                       doctest::Contains("weights of shape [2, 2] do not fit 3 query and 2 key "
                                         "tokens: expected [3, 2] or [heads, 3, 2]"),
                       Error);
  CHECK_THROWS_AS(svg_attention_heatmap({"a", "b"}, {"c", "d"}, weights.reshape({4}), "t"), Error);
  CHECK_THROWS_AS(svg_attention_heatmap({"a", "b"}, {"c", "d"}, zeros({0, 2, 2}), "t"), Error);
}
