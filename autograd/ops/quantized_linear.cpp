#include "autograd/ops/quantized_linear.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <type_traits>
#include <vector>

#include "autograd/kernels/parallel.hpp"
#include "autograd/kernels/simd.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

// The scale max |row| / 127 of `row` (0 for a row of zeros), and row / scale rounded to the
// nearest integer (ties to even, as PyTorch's quantize does) into `to`: |row / scale| <= 127.
template <class T>
float quantize_row(const T* row, int64_t K, int8_t* to) {
  T largest = 0;
  int64_t k = 0;
  if constexpr (std::is_same_v<T, float>) {
    using Floats = kernels::Batch<float>;
    constexpr auto kWidth = static_cast<int64_t>(Floats::size);
    Floats largest_lanes(0.0f);
    for (; k + kWidth <= K; k += kWidth)
      largest_lanes = xsimd::max(largest_lanes, xsimd::abs(Floats::load_unaligned(row + k)));
    alignas(64) float lanes[kWidth];
    largest_lanes.store_aligned(lanes);
    for (const float lane : lanes) largest = std::max(largest, lane);
  }
  for (; k < K; ++k) largest = std::max(largest, std::abs(row[k]));
  const T inverse = largest > 0 ? T(127) / largest : T(0);
  for (k = 0; k < K; ++k)  // vectorised by the compiler: nearbyint is one rounding instruction
    to[k] = static_cast<int8_t>(static_cast<int32_t>(std::nearbyint(row[k] * inverse)));
  return static_cast<float>(largest / 127);
}

// Rows of x that one item of quantized_linear's loop quantizes, multiplies and scales: about
// 32 K int32 products, whose buffers stay in the thread's cache between the three steps.
int64_t rows_per_item(int64_t N) {
  return std::max<int64_t>(4, (32768 / std::max<int64_t>(N, 1)) / 4 * 4);
}

}  // namespace

QuantizedWeight quantized_weight(const Tensor& weight, const Tensor& scale) {
  if (weight.dtype() != kInt8 || weight.dim() != 2 || scale.dtype() != kFloat32 ||
      scale.shape() != Shape{weight.dim() == 2 ? weight.size(0) : -1})
    fail(
        "quantized_weight: weight {} of shape {} and scale {} of shape {} must be an int8 [N, K] "
        "and a float32 [N]",
        weight.dtype(), weight.shape(), scale.dtype(), scale.shape());
  const Tensor rows = weight.contiguous();
  return {
      rows, scale.contiguous(),
      kernels::pack_int8_weights(rows.data<int8_t>(), rows.size(0), rows.size(1), rows.size(1))};
}

QuantizedWeight quantize_weight(const Tensor& weight) {
  if (weight.dim() != 2)
    fail("quantize_weight: weight of shape {} is not [out_features, in_features]", weight.shape());
  const Tensor rows = weight.contiguous();
  const int64_t N = rows.size(0), K = rows.size(1);
  Tensor quantized = Tensor::empty({N, K}, kInt8), scale = Tensor::empty({N}, kFloat32);
  dispatch_floating(rows.dtype(), "quantize_weight", [&]<class T>() {
    for (int64_t n = 0; n < N; ++n)
      scale.data<float>()[n] =
          quantize_row(rows.data<T>() + n * K, K, quantized.data<int8_t>() + n * K);
  });
  return quantized_weight(quantized, scale);
}

Tensor quantized_linear(const Tensor& x, const QuantizedWeight& weight, const Tensor& bias,
                        const Tensor& residual) {
  const int64_t N = weight.packed.rows, K = weight.packed.depth;
  if (x.dtype() != kFloat32 || x.dim() < 1 || x.size(-1) != K)
    fail("quantized_linear: x {} of shape {} must be float32 [..., {}] (the weight is [{}, {}])",
         x.dtype(), x.shape(), K, N, K);
  if (bias.defined() && (bias.dtype() != kFloat32 || bias.shape() != Shape{N}))
    fail("quantized_linear: bias {} of shape {} must be float32 [{}]", bias.dtype(), bias.shape(),
         N);
  if (x.requires_grad() && grad_enabled())
    fail(
        "quantized_linear: x requires grad, but int8 inference has no backward; run it under "
        "NoGradGuard (or on a detached input)");
  Shape shape = x.shape();
  shape.back() = N;
  if (residual.defined() && (residual.dtype() != kFloat32 || residual.shape() != shape))
    fail("quantized_linear: residual {} of shape {} must be float32 of the output's shape {}",
         residual.dtype(), residual.shape(), shape);
  const Tensor rows = x.contiguous();
  const int64_t M = around_dim(x.shape(), x.dim() - 1).outer;  // whatever K, 0 included
  Tensor out = Tensor::empty(shape, kFloat32);
  const Tensor bias_values = bias.defined() ? bias.contiguous() : Tensor();
  const Tensor residual_values = residual.defined() ? residual.contiguous() : Tensor();
  const float* b = bias.defined() ? bias_values.data<float>() : nullptr;
  const float* r = residual.defined() ? residual_values.data<float>() : nullptr;
  const float* channel_scale = weight.scale.data<float>();
  float* y = out.data<float>();
  // Per item, a band of rows: each row quantized with its own scale, the int32 products (the
  // GEMM runs on this thread: a loop inside a loop's body does), then
  //   y[m, n] = s_x[m] s_w[n] C[m, n] + b[n] (+ residual[m, n]).
  const int64_t band = rows_per_item(N);
  kernels::parallel_for_each_thread(
      (M + band - 1) / band, kernels::team_for_work(M * N * K / 16),
      [&](kernels::ItemRanges& ranges) {
        thread_local std::vector<int8_t> quantized;  // this thread's, for its bands
        thread_local std::vector<int32_t> products;
        thread_local std::vector<float> row_scale;
        quantized.resize(static_cast<std::size_t>(band * K));
        products.resize(static_cast<std::size_t>(band * N));
        row_scale.resize(static_cast<std::size_t>(band));
        while (const std::optional<kernels::ItemRange> items = ranges.next()) {
          for (int64_t item = items->begin; item < items->end; ++item) {
            const int64_t first = item * band, count = std::min(band, M - first);
            for (int64_t m = 0; m < count; ++m)
              row_scale[m] =
                  quantize_row(rows.data<float>() + (first + m) * K, K, quantized.data() + m * K);
            kernels::gemm_int8(count, quantized.data(), K, weight.packed, products.data(), N);
            for (int64_t m = 0; m < count; ++m) {
              float* out_row = y + (first + m) * N;
              const int32_t* product = products.data() + m * N;
              for (int64_t n = 0; n < N; ++n)
                out_row[n] = row_scale[m] * channel_scale[n] * static_cast<float>(product[n]);
              if (b)
                for (int64_t n = 0; n < N; ++n) out_row[n] += b[n];
              if (r)
                for (int64_t n = 0; n < N; ++n) out_row[n] += r[(first + m) * N + n];
            }
          }
        }
      });
  return out;
}

}  // namespace tapegrad
