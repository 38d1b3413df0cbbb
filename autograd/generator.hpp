// Seeded random numbers. Every random op takes a Generator (or uses the default one, which
// manual_seed resets), so the same seed gives the same numbers, on every run of the same build.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace tapegrad {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { manual_seed(seed); }

  void manual_seed(uint64_t seed);
  // Uniform on [0, 1), 53 random bits.
  double uniform();
  // Standard normal (Box-Muller; the second value of each pair is kept for the next call).
  double normal();
  uint64_t next_u64() { return engine_(); }
  // Uniform on [0, bound) (bound >= 1), without the bias of a plain `% bound`: draws that fall in
  // the top partial range of 2^64 are drawn again.
  uint64_t below(uint64_t bound);

  // The whole state as text, and back: checkpoints store it to resume the same stream.
  std::string state() const;
  void set_state(const std::string& state);

 private:
  std::mt19937_64 engine_;
  bool has_spare_normal_ = false;
  double spare_normal_ = 0.0;
};

// Fisher-Yates: item i swaps with one drawn uniformly from [0, i], from the last item down (the
// same order on every standard library, unlike std::shuffle).
void shuffle(std::vector<int64_t>& items, Generator& generator);

// The generator used when an op is given none (per thread, seeded 0 until manual_seed).
Generator& default_generator();
// Seeds this thread's default generator, like torch::manual_seed.
void manual_seed(uint64_t seed);

}  // namespace tapegrad
