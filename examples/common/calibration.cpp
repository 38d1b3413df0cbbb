#include "examples/common/calibration.hpp"

#include <algorithm>
#include <cmath>

#include "autograd/error.hpp"
#include "autograd/io/atomic_file.hpp"

namespace tapegrad::report {
namespace {

double sigmoid(double x) {
  return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x));
}

// log(1 + e^x) without overflow.
double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

double sign_of(int label) { return label == 1 ? 1.0 : -1.0; }

void check_labelled(std::string_view function, std::size_t values, std::span<const int> labels) {
  if (values == 0 || values != labels.size())
    fail("{}: needs as many labels as values, at least one; got {} values and {} labels", function,
         values, labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] != 0 && labels[i] != 1)
      fail("{}: label {} at index {} is neither 0 nor 1", function, labels[i], i);
}

// d NLL / dβ at β = 1/T (see fit_temperature).
double nll_slope(std::span<const double> margins, std::span<const int> labels, double beta) {
  double slope = 0;
  for (std::size_t i = 0; i < margins.size(); ++i) {
    const double s = sign_of(labels[i]);
    slope -= s * margins[i] * sigmoid(-s * beta * margins[i]);
  }
  return slope / static_cast<double>(margins.size());
}

}  // namespace

double spam_probability(double margin, double temperature) { return sigmoid(margin / temperature); }

double binary_nll(std::span<const double> margins, std::span<const int> labels,
                  double temperature) {
  check_labelled("binary_nll", margins.size(), labels);
  double total = 0;
  for (std::size_t i = 0; i < margins.size(); ++i)
    total += softplus(-sign_of(labels[i]) * margins[i] / temperature);
  return total / static_cast<double>(margins.size());
}

double fit_temperature(std::span<const double> margins, std::span<const int> labels) {
  check_labelled("fit_temperature", margins.size(), labels);
  double low = 1 / kMaxTemperature, high = 1 / kMinTemperature;  // the range of β
  if (nll_slope(margins, labels, low) >= 0) return kMaxTemperature;
  if (nll_slope(margins, labels, high) <= 0) return kMinTemperature;
  for (int iteration = 0; iteration < 100; ++iteration) {
    const double middle = (low + high) / 2;
    (nll_slope(margins, labels, middle) < 0 ? low : high) = middle;
  }
  return 2 / (low + high);
}

double expected_calibration_error(std::span<const double> spam_probabilities,
                                  std::span<const int> labels, int bins) {
  check_labelled("expected_calibration_error", spam_probabilities.size(), labels);
  if (bins < 1) fail("expected_calibration_error: bins must be >= 1, got {}", bins);
  std::vector<double> confidence_sum(static_cast<std::size_t>(bins), 0.0);
  std::vector<int64_t> correct(static_cast<std::size_t>(bins), 0), count(confidence_sum.size(), 0);
  for (std::size_t i = 0; i < spam_probabilities.size(); ++i) {
    const double p = spam_probabilities[i];
    if (!(p >= 0 && p <= 1))
      fail("expected_calibration_error: probability {} at index {} is not in [0, 1]", p, i);
    const int predicted = p >= 0.5 ? 1 : 0;
    const double confidence = predicted == 1 ? p : 1 - p;
    // (b/bins, (b+1)/bins] -> b: ceil(c·bins) − 1, and 0 for c = 0.
    const auto bin = static_cast<std::size_t>(
        std::clamp(static_cast<int>(std::ceil(confidence * bins)) - 1, 0, bins - 1));
    confidence_sum[bin] += confidence;
    correct[bin] += predicted == labels[i] ? 1 : 0;
    ++count[bin];
  }
  double ece = 0;
  for (std::size_t b = 0; b < count.size(); ++b)
    if (count[b] > 0)
      ece += std::abs(static_cast<double>(correct[b]) - confidence_sum[b]);  // n_b·|acc_b − conf_b|
  return ece / static_cast<double>(spam_probabilities.size());
}

nlohmann::json to_json(const Calibration& calibration) {
  return {{"temperature", calibration.temperature},
          {"threshold", calibration.threshold},
          {"prior_spam", calibration.prior_spam}};
}

void save_calibration(const Calibration& calibration, const std::filesystem::path& path) {
  write_file_atomically(path, to_json(calibration).dump(2));
}

Calibration load_calibration(const std::filesystem::path& path) {
  const nlohmann::json json = nlohmann::json::parse(read_file(path), nullptr, false);
  if (!json.is_object()) fail("calibration {}: not a JSON object", path.string());
  const auto read = [&](const char* key, double least, double most, bool inclusive) {
    const auto found = json.find(key);
    if (found == json.end() || !found->is_number())
      fail("calibration {}: '{}' is missing or not a number", path.string(), key);
    const double value = found->get<double>();
    const bool inside = inclusive ? value >= least && value <= most : value > least && value < most;
    if (!inside)
      fail("calibration {}: '{}' is {}, not in {}{}, {}{}", path.string(), key, value,
           inclusive ? "[" : "(", least, most, inclusive ? "]" : ")");
    return value;
  };
  return {.temperature = read("temperature", kMinTemperature, kMaxTemperature, true),
          .threshold = read("threshold", 0, 1, false),
          .prior_spam = read("prior_spam", 0, 1, false)};
}

}  // namespace tapegrad::report
