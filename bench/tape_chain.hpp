// The tape's own cost, with next to nothing to compute: forward and backward of a chain of
// products of one-element tensors with a leaf, y = y * w, `ops` times. Each op is one node
// recorded, reached and walked, its backward run and its gradients accumulated. Shared by
// bench_ops (items/s) and bench/compare (against libtorch's autograd doing the same).
#pragma once

#include <tapegrad/tapegrad.hpp>

#include <cstdint>

namespace tapegrad::bench {

class TapeChain {
 public:
  explicit TapeChain(int64_t ops) : ops_(ops) {}
  void operator()() {
    Tensor y = ones({1});
    for (int64_t i = 0; i < ops_; ++i) y = y * w_;
    y.backward(ones({1}));
    w_.zero_grad();
  }

 private:
  int64_t ops_;
  Tensor w_ = ones({1}, {.requires_grad = true});
};

}  // namespace tapegrad::bench
