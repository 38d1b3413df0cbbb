#include "autograd/generator.hpp"

#include <cmath>
#include <numbers>
#include <sstream>
#include <utility>

#include "autograd/error.hpp"

namespace tapegrad {

void Generator::manual_seed(uint64_t seed) {
  engine_.seed(seed);
  has_spare_normal_ = false;
}

double Generator::uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

double Generator::normal() {
  if (has_spare_normal_) {
    has_spare_normal_ = false;
    return spare_normal_;
  }
  const double u1 = 1.0 - uniform();  // in (0, 1]: log(u1) is finite
  const double u2 = uniform();
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * std::numbers::pi * u2;
  spare_normal_ = radius * std::sin(angle);
  has_spare_normal_ = true;
  return radius * std::cos(angle);
}

uint64_t Generator::below(uint64_t bound) {
  if (bound == 0) fail("Generator::below: bound 0; give 1 or more");
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t draw = engine_();
  while (draw >= limit) draw = engine_();
  return draw % bound;
}

std::string Generator::state() const {
  std::ostringstream out;
  out << engine_ << ' ' << has_spare_normal_ << ' ';
  out.precision(17);
  out << spare_normal_;
  return out.str();
}

void Generator::set_state(const std::string& state) {
  std::istringstream in(state);
  in >> engine_ >> has_spare_normal_ >> spare_normal_;
  if (!in) fail("Generator::set_state: the state text is not one that state() wrote");
}

Generator& default_generator() {
  thread_local Generator generator;
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

void shuffle(std::vector<int64_t>& items, Generator& generator) {
  for (uint64_t i = items.size() - 1; i > 0 && i < items.size(); --i)
    std::swap(items[i], items[generator.below(i + 1)]);
}

}  // namespace tapegrad
