#include "nn/positional_encoding.hpp"

#include <cmath>

#include "autograd/factories.hpp"
#include "autograd/ops/elementwise.hpp"
#include "autograd/ops/indexing.hpp"

namespace tapegrad::nn {
namespace {

void check_sizes(std::string_view module, int64_t max_len, int64_t d_model) {
  if (max_len <= 0 || d_model <= 0)
    fail("{}: max_len {} and d_model {} must be positive", module, max_len, d_model);
}

// x + table[:T] for x [..., T, d_model], table [max_len, d_model].
Tensor add_positions(std::string_view module, const Tensor& x, const Tensor& table) {
  const int64_t max_len = table.size(0), d_model = table.size(1);
  if (x.dim() < 2 || x.size(-1) != d_model)
    fail("{}: input of shape {} is not [..., T, d_model = {}]", module, x.shape(), d_model);
  const int64_t length = x.size(-2);
  if (length > max_len)
    fail("{}: sequence length T = {} (input shape {}) exceeds max_len {}", module, length,
         x.shape(), max_len);
  return x + narrow(table, 0, 0, length);
}

// pe [max_len, d_model] (see positional_encoding.hpp), computed in float64, stored in `dtype`.
Tensor sinusoidal_table(int64_t max_len, int64_t d_model, DType dtype) {
  Tensor table = empty({max_len, d_model}, {.dtype = kFloat64});
  double* row = table.data<double>();
  for (int64_t pos = 0; pos < max_len; ++pos, row += d_model) {
    for (int64_t j = 0; j < d_model; ++j) {
      const double two_i = static_cast<double>(j - j % 2);
      const double angle = static_cast<double>(pos) / std::pow(10000.0, two_i / d_model);
      row[j] = j % 2 == 0 ? std::sin(angle) : std::cos(angle);
    }
  }
  return dtype == kFloat64 ? table : table.to(dtype);
}

}  // namespace

SinusoidalPositionalEncoding::SinusoidalPositionalEncoding(int64_t d_model, int64_t max_len,
                                                           double dropout_p)
    : dropout(dropout_p) {
  check_sizes("nn.SinusoidalPositionalEncoding", max_len, d_model);
  pe = sinusoidal_table(max_len, d_model, kFloat32);
  register_buffer("pe", pe, /*persistent=*/false);
  register_module("dropout", dropout);
}

Tensor SinusoidalPositionalEncoding::forward(const Tensor& x) {
  return dropout(add_positions("nn.SinusoidalPositionalEncoding", x, pe));
}

void SinusoidalPositionalEncoding::to(DType dtype) {
  Module::to(dtype);
  pe.set_data(sinusoidal_table(pe.size(0), pe.size(1), dtype));
}

LearnedPositionalEmbedding::LearnedPositionalEmbedding(int64_t max_len, int64_t d_model) {
  check_sizes("nn.LearnedPositionalEmbedding", max_len, d_model);
  weight = normal({max_len, d_model}, 0.0, 0.02);
  register_parameter("weight", weight);
}

Tensor LearnedPositionalEmbedding::forward(const Tensor& x) {
  return add_positions("nn.LearnedPositionalEmbedding", x, weight);
}

}  // namespace tapegrad::nn
