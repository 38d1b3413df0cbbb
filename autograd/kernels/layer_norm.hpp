// Layer normalisation over the last axis: `rows` rows of n elements, each normalised by its own
// mean and biased variance (as PyTorch), then scaled by gamma and shifted by beta (both optional).
//
// Forward saves mean and rstd = 1/√(var + eps) per row, for a backward to read. With
// x̂ = (x - mean)·rstd and gγ = g·γ (g when gamma is null), the backward is
// (autograd/ops/layer_norm.cpp derives it)
//   dx = rstd·(gγ - mean(gγ) - x̂·mean(gγ·x̂)),   dγ += Σ_rows g·x̂,   dβ += Σ_rows g.
// A constant row has var = 0 and a finite rstd = 1/√eps:
//   x̂ = 0,   y = beta,   dx = rstd·(gγ - mean(gγ)).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "autograd/kernels/reduce.hpp"

namespace tapegrad::kernels {

// The element type of a pointer that may be a literal nullptr (T is deduced from the others).
template <class T>
using Nullable = std::type_identity_t<T>;

// y = (x - mean)·rstd·gamma + beta per row, saving mean and rstd for the backward (both null
// when no backward will read them); gamma and beta may be null. Rows are shared among threads.
template <class T>
void layer_norm(const T* x, const Nullable<T>* gamma, const Nullable<T>* beta, int64_t rows,
                int64_t n, std::type_identity_t<T> eps, T* y, Nullable<T>* mean,
                Nullable<T>* rstd) {
  parallel_for(rows, n, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* x_r = x + r * n;
      T* y_r = y + r * n;
      // Row by row, so that the row is still in L1 when normalised.
      T row_mean, row_variance;
      variance(x_r, int64_t{1}, n, int64_t{1}, int64_t{0}, &row_mean, &row_variance);
      const T row_rstd = T(1) / std::sqrt(row_variance + eps);
      if (mean) mean[r] = row_mean;
      if (rstd) rstd[r] = row_rstd;
      Contiguous<T>{n}.for_each([&]<class V>(Lane<V>, int64_t i) {
        V out = (load_lane<V>(x_r + i) - V(row_mean)) * V(row_rstd);
        if (gamma) out *= load_lane<V>(gamma + i);
        if (beta) out += load_lane<V>(beta + i);
        store_lane(y_r + i, out);
      });
    }
  });
}

template <class T>
void layer_norm_reference(const T* x, const T* gamma, const T* beta, int64_t rows, int64_t n, T eps,
                          T* y, T* mean, T* rstd) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* x_r = x + r * n;
    T total = 0;
    for (int64_t i = 0; i < n; ++i) total += x_r[i];
    mean[r] = total / static_cast<T>(n);
    T squares = 0;
    for (int64_t i = 0; i < n; ++i) squares += (x_r[i] - mean[r]) * (x_r[i] - mean[r]);
    rstd[r] = T(1) / std::sqrt(squares / static_cast<T>(n) + eps);
    for (int64_t i = 0; i < n; ++i) {
      const T normalized = (x_r[i] - mean[r]) * rstd[r];
      y[r * n + i] = normalized * (gamma ? gamma[i] : T(1)) + (beta ? beta[i] : T(0));
    }
  }
}

// Rows per block of the backward pass: dγ and dβ are summed per block, then the blocks' sums in
// block order, so the order of the additions does not depend on the thread count.
inline constexpr int64_t kLayerNormRowBlock = 64;

// dx from the rows x, their output gradient g and the saved mean and rstd; accumulates (+=) the
// parameter gradients into dgamma and dbeta when they are not null. gamma may be null. Blocks of
// rows are shared among threads.
template <class T>
void layer_norm_backward(const T* x, const T* g, const Nullable<T>* gamma, const T* mean,
                         const T* rstd, int64_t rows, int64_t n, T* dx, Nullable<T>* dgamma,
                         Nullable<T>* dbeta) {
  const Contiguous<T> row{n};
  const int64_t blocks = (rows + kLayerNormRowBlock - 1) / kLayerNormRowBlock;
  // Each block's Σ g·x̂ and Σ g: [blocks, 2, n].
  std::vector<T> block_sums(dgamma || dbeta ? static_cast<std::size_t>(blocks * 2 * n) : 0, T(0));
  parallel_for(blocks, kLayerNormRowBlock * n, [&](int64_t first_block, int64_t last_block) {
    for (int64_t block = first_block; block < last_block; ++block) {
      T* block_dgamma = block_sums.empty() ? nullptr : block_sums.data() + block * 2 * n;
      T* block_dbeta = block_sums.empty() ? nullptr : block_dgamma + n;
      const int64_t end = std::min(rows, (block + 1) * kLayerNormRowBlock);
      for (int64_t r = block * kLayerNormRowBlock; r < end; ++r) {
        const T* x_r = x + r * n;
        const T* g_r = g + r * n;
        T* dx_r = dx + r * n;
        const T row_mean = mean[r];
        const T row_rstd = rstd[r];
        const auto normalized = [&]<class V>(Lane<V>, int64_t i) {
          return (load_lane<V>(x_r + i) - V(row_mean)) * V(row_rstd);
        };
        const auto scaled_grad = [&]<class V>(Lane<V>, int64_t i) {
          const V g_i = load_lane<V>(g_r + i);
          return gamma ? g_i * load_lane<V>(gamma + i) : g_i;
        };
        const T mean_grad = row.reduce(T(0), scaled_grad, Add{}) / static_cast<T>(n);
        const T mean_grad_x = row.reduce(
                                  T(0),
                                  [&]<class V>(Lane<V> lane, int64_t i) {
                                    return scaled_grad(lane, i) * normalized(lane, i);
                                  },
                                  Add{}) /
                              static_cast<T>(n);
        row.for_each([&]<class V>(Lane<V> lane, int64_t i) {
          const V x_hat = normalized(lane, i);
          store_lane(dx_r + i,
                     V(row_rstd) * (scaled_grad(lane, i) - V(mean_grad) - x_hat * V(mean_grad_x)));
          if (block_dgamma) {
            const V g_i = load_lane<V>(g_r + i);
            store_lane(block_dgamma + i, load_lane<V>(block_dgamma + i) + g_i * x_hat);
            store_lane(block_dbeta + i, load_lane<V>(block_dbeta + i) + g_i);
          }
        });
      }
    }
  });
  for (int64_t block = 0; block < blocks && !block_sums.empty(); ++block) {
    const T* sums = block_sums.data() + block * 2 * n;
    row.for_each([&]<class V>(Lane<V>, int64_t i) {
      if (dgamma) store_lane(dgamma + i, load_lane<V>(dgamma + i) + load_lane<V>(sums + i));
      if (dbeta) store_lane(dbeta + i, load_lane<V>(dbeta + i) + load_lane<V>(sums + n + i));
    });
  }
}

template <class T>
void layer_norm_backward_reference(const T* x, const T* g, const T* gamma, const T* mean,
                                   const T* rstd, int64_t rows, int64_t n, T* dx, T* dgamma,
                                   T* dbeta) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* x_r = x + r * n;
    const T* g_r = g + r * n;
    T mean_grad = 0;
    T mean_grad_x = 0;
    for (int64_t i = 0; i < n; ++i) {
      const T scaled_grad = g_r[i] * (gamma ? gamma[i] : T(1));
      mean_grad += scaled_grad;
      mean_grad_x += scaled_grad * (x_r[i] - mean[r]) * rstd[r];
    }
    mean_grad /= static_cast<T>(n);
    mean_grad_x /= static_cast<T>(n);
    for (int64_t i = 0; i < n; ++i) {
      const T x_hat = (x_r[i] - mean[r]) * rstd[r];
      const T scaled_grad = g_r[i] * (gamma ? gamma[i] : T(1));
      dx[r * n + i] = rstd[r] * (scaled_grad - mean_grad - x_hat * mean_grad_x);
      if (dgamma) dgamma[i] += g_r[i] * x_hat;
      if (dbeta) dbeta[i] += g_r[i];
    }
  }
}

}  // namespace tapegrad::kernels
