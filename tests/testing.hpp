// Inputs for the tests: seeded float64 leaves for gradient checks, including non-contiguous ones
// (a transposed and a strided view that are leaves themselves), and closeness checks.
#pragma once

#include <doctest/doctest.h>

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/module.hpp"

namespace tapegrad::testing {

// Calls `body`, which must throw a tapegrad::Error whose message holds every one of `parts`.
template <class Body>
void check_error(Body&& body, std::initializer_list<std::string> parts) {
  try {
    body();
    FAIL("no Error thrown");
  } catch (const Error& error) {
    const std::string message = error.what();
    for (const std::string& part : parts)
      CHECK_MESSAGE(message.find(part) != std::string::npos, message);
  }
}

// A float64 leaf of `shape`, values N(0, 1), requiring grad.
inline Tensor input(const Shape& shape, uint64_t seed = 1) {
  Generator generator(seed);
  return randn(shape, {.dtype = kFloat64, .requires_grad = true}, generator);
}

// A float64 leaf with values in [low, high]: for ops defined only on part of the line.
inline Tensor input_in(const Shape& shape, double low, double high, uint64_t seed = 1) {
  Generator generator(seed);
  return uniform(shape, low, high, {.dtype = kFloat64, .requires_grad = true}, generator);
}

// A leaf of `shape` (2 dims at least) whose last two dims are transposed in memory.
inline Tensor transposed_input(Shape shape, uint64_t seed = 1) {
  std::swap(shape[shape.size() - 1], shape[shape.size() - 2]);
  Generator generator(seed);
  const Tensor base = randn(shape, {.dtype = kFloat64}, generator);
  return base.transpose(-1, -2).detach().requires_grad_();
}

// A leaf of `shape` that takes every other element of a buffer twice as wide: a strided slice.
inline Tensor strided_input(const Shape& shape, uint64_t seed = 1) {
  Shape wide = shape;
  wide.back() *= 2;
  Generator generator(seed);
  const Tensor base = randn(wide, {.dtype = kFloat64}, generator);
  Shape strides = base.strides();
  strides.back() = 2;
  return base.alias(shape, strides, 0).requires_grad_();
}

// Every element of `actual` within atol + rtol * |expected| of `expected` (row-major values).
inline void check_values(const Tensor& actual, const std::vector<double>& expected,
                         double atol = 1e-4, double rtol = 0) {
  const std::vector<double> values = actual.to_vector();
  REQUIRE(values.size() == expected.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    INFO("element ", i, ": ", values[i], " vs ", expected[i]);
    CHECK(std::abs(values[i] - expected[i]) <= atol + rtol * std::abs(expected[i]));
  }
}

// `inputs` followed by every parameter of `module`: what a gradcheck of a module perturbs.
inline std::vector<Tensor> with_parameters(const nn::Module& module, std::vector<Tensor> inputs) {
  for (const Tensor& p : module.parameters()) inputs.push_back(p);
  return inputs;
}

// The names of the module's parameters, in its order.
inline std::vector<std::string> parameter_names(const nn::Module& module) {
  std::vector<std::string> result;
  for (const auto& [name, parameter] : module.named_parameters()) result.push_back(name);
  return result;
}

// The module in `dtype` and in eval mode (no dropout): ready to compare values.
inline void to_eval(nn::Module& module, DType dtype) {
  module.to(dtype);
  module.eval();
}

// A fresh directory under the system's temporary directory, removed with everything in it.
class ScratchDirectory {
 public:
  // mkdtemp makes a new directory: never one a process of a reused pid left behind.
  ScratchDirectory() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "tapegrad_test_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      FAIL("ScratchDirectory: mkdtemp(" << pattern << ") failed: " << std::strerror(errno));
    path_ = pattern;
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  ~ScratchDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }
  // Writes `bytes` to the file `name` (folders created) and returns its path.
  std::filesystem::path write(const std::string& name, const std::string& bytes) const {
    const std::filesystem::path file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << bytes;
    return file;
  }
  // The names in the directory, sorted: temporary files show up here.
  std::vector<std::string> names() const {
    std::vector<std::string> names;
    for (const auto& item : std::filesystem::directory_iterator(path_))
      names.push_back(item.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::filesystem::path path_;
};

struct ToolRun {
  int exit_code;
  std::string output;
};

// Runs `command` through the shell and returns its exit code and standard output.
inline ToolRun run_tool(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[4096];
  for (std::size_t read; (read = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
    output.append(buffer, read);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

}  // namespace tapegrad::testing
