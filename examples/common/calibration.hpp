// Calibration of a binary classifier's probabilities: temperature scaling (Guo et al. 2017, "On
// Calibration of Modern Neural Networks") and the expected calibration error that measures it.
//
// A two-class model gives logits (l_ham, l_spam); its spam probability is
//   p = softmax(l / T)[spam] = σ(z / T),   z = l_spam − l_ham (the margin).
// T = 1 is the model as trained; T > 1 softens an over-confident model. T changes no decision at
// the threshold 0.5 (σ(z / T) ≥ 0.5 exactly when z ≥ 0): it only makes the numbers mean what they
// say.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

namespace tapegrad::report {

// σ(margin / temperature), computed without overflow for any margin.
double spam_probability(double margin, double temperature);

// Mean negative log-likelihood of `labels` (0 or 1) under σ(margin / temperature).
double binary_nll(std::span<const double> margins, std::span<const int> labels, double temperature);

// The temperature in [kMinTemperature, kMaxTemperature] that minimises binary_nll on (margins,
// labels). With β = 1/T the NLL is convex in β:
//   NLL(β)  = mean softplus(−s·β·z),                 s = +1 for spam, −1 for ham
//   NLL'(β) = mean −s·z·σ(−s·β·z)                    (increasing in β)
// so the minimum is where NLL' changes sign, found by bisection on β. A set the margins separate
// perfectly has NLL' < 0 everywhere and gets the smallest temperature. An Error for empty or
// mismatched inputs or a label that is not 0 or 1.
inline constexpr double kMinTemperature = 0.05, kMaxTemperature = 100.0;
double fit_temperature(std::span<const double> margins, std::span<const int> labels);

// Expected calibration error with `bins` equal-width bins of the confidence c = max(p, 1 − p) of
// the predicted class (prediction: spam when p ≥ 0.5):
//   ECE = Σ_b (n_b / N) · |accuracy_b − mean confidence_b|
// bin b holds the c in (b/bins, (b+1)/bins]; c = 0 falls in bin 0. An Error for empty or
// mismatched inputs.
double expected_calibration_error(std::span<const double> spam_probabilities,
                                  std::span<const int> labels, int bins = 15);

// What the predict tool needs beyond the weights, saved as calibration.json in a run directory:
// the temperature, the decision threshold on the calibrated spam probability, and the spam
// fraction of the train split (the prior, for inputs with no known token).
struct Calibration {
  double temperature = 1.0;
  double threshold = 0.5;
  double prior_spam = 0.5;
};
nlohmann::json to_json(const Calibration& calibration);
void save_calibration(const Calibration& calibration, const std::filesystem::path& path);
// An Error naming the file for bad JSON, a missing key, a temperature not in
// [kMinTemperature, kMaxTemperature], or a threshold or prior not in (0, 1).
Calibration load_calibration(const std::filesystem::path& path);

}  // namespace tapegrad::report
