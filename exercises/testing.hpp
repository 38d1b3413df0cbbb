// What the exercise tests share: a closeness check that prints both sides when it fails.
#pragma once

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <tapegrad/tapegrad.hpp>
#include <vector>

namespace tapegrad::exercises::testing {

// Every element of `actual`, in row-major order, within atol + rtol·|expected| of `expected`.
inline void check_close(const Tensor& actual, const std::vector<double>& expected,
                        double atol = 1e-5, double rtol = 0) {
  const std::vector<double> values = actual.to_vector();
  REQUIRE_MESSAGE(values.size() == expected.size(),
                  fmt::format("{} elements, expected {}", values.size(), expected.size()));
  for (std::size_t i = 0; i < values.size(); ++i)
    CHECK_MESSAGE(std::abs(values[i] - expected[i]) <= atol + rtol * std::abs(expected[i]),
                  fmt::format("element {}: {} where {} was expected", i, values[i], expected[i]));
}

// allclose, printing both tensors when they differ.
inline void check_allclose(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  CHECK_MESSAGE(allclose(actual, expected, rtol, atol),
                fmt::format("got\n{}\nexpected\n{}", actual, expected));
}

}  // namespace tapegrad::exercises::testing
