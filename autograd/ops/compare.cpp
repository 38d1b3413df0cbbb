#include "autograd/ops/compare.hpp"

#include <cmath>

#include <functional>
#include <type_traits>

#include "autograd/ops/broadcast.hpp"
#include "autograd/ops/copy.hpp"

namespace tapegrad {
namespace {

// out = predicate(a, b) broadcast, as bool; a and b share a dtype.
template <class Predicate>
Tensor broadcast_predicate(std::string_view op, const Tensor& a, const Tensor& b,
                           Predicate predicate) {
  if (a.dtype() != b.dtype())
    fail("{}: dtypes differ ({} and {}) for shapes {} and {}", op, a.dtype(), b.dtype(), a.shape(),
         b.shape());
  const Shape out_shape = broadcast_shapes(a.shape(), b.shape(), op);
  const Tensor ac = contiguous_values(a), bc = contiguous_values(b);
  Tensor out = Tensor::empty(out_shape, kBool);
  bool* po = out.data<bool>();
  dispatch_all(a.dtype(), [&]<class T>() {
    const T* pa = ac.data<T>();
    const T* pb = bc.data<T>();
    for_each_broadcast_row(
        out_shape, a.shape(), b.shape(),
        [&](int64_t ia, int64_t sa, int64_t ib, int64_t sb, int64_t io, int64_t n) {
          for (int64_t i = 0; i < n; ++i) po[io + i] = predicate(pa[ia + i * sa], pb[ib + i * sb]);
        });
  });
  return out;
}

// out = predicate(x, value), with value in x's dtype when it is floating, else x as a double.
template <class Predicate>
Tensor scalar_predicate(const Tensor& x, double value, Predicate predicate) {
  const Tensor xc = contiguous_values(x);
  Tensor out = Tensor::empty(x.shape(), kBool);
  bool* po = out.data<bool>();
  dispatch_all(x.dtype(), [&]<class T>() {
    using Compared = std::conditional_t<std::is_floating_point_v<T>, T, double>;
    const Compared bound = static_cast<Compared>(value);
    const T* px = xc.data<T>();
    const int64_t n = x.numel();
    for (int64_t i = 0; i < n; ++i) po[i] = predicate(static_cast<Compared>(px[i]), bound);
  });
  return out;
}

void check_bool(std::string_view op, const Tensor& x) {
  if (x.dtype() != kBool)
    fail("{}: expected a bool tensor, got {} of shape {}", op, x.dtype(), x.shape());
}

}  // namespace

Tensor eq(const Tensor& a, const Tensor& b) {
  return broadcast_predicate("eq", a, b, std::equal_to<>{});
}
Tensor ne(const Tensor& a, const Tensor& b) {
  return broadcast_predicate("ne", a, b, std::not_equal_to<>{});
}
Tensor lt(const Tensor& a, const Tensor& b) {
  return broadcast_predicate("lt", a, b, std::less<>{});
}
Tensor le(const Tensor& a, const Tensor& b) {
  return broadcast_predicate("le", a, b, std::less_equal<>{});
}
Tensor gt(const Tensor& a, const Tensor& b) {
  return broadcast_predicate("gt", a, b, std::greater<>{});
}
Tensor ge(const Tensor& a, const Tensor& b) {
  return broadcast_predicate("ge", a, b, std::greater_equal<>{});
}

Tensor eq(const Tensor& a, double b) { return scalar_predicate(a, b, std::equal_to<>{}); }
Tensor ne(const Tensor& a, double b) { return scalar_predicate(a, b, std::not_equal_to<>{}); }
Tensor lt(const Tensor& a, double b) { return scalar_predicate(a, b, std::less<>{}); }
Tensor le(const Tensor& a, double b) { return scalar_predicate(a, b, std::less_equal<>{}); }
Tensor gt(const Tensor& a, double b) { return scalar_predicate(a, b, std::greater<>{}); }
Tensor ge(const Tensor& a, double b) { return scalar_predicate(a, b, std::greater_equal<>{}); }

Tensor logical_and(const Tensor& a, const Tensor& b) {
  check_bool("logical_and", a);
  check_bool("logical_and", b);
  return broadcast_predicate("logical_and", a, b, std::logical_and<>{});
}

Tensor logical_or(const Tensor& a, const Tensor& b) {
  check_bool("logical_or", a);
  check_bool("logical_or", b);
  return broadcast_predicate("logical_or", a, b, std::logical_or<>{});
}

Tensor logical_not(const Tensor& x) {
  check_bool("logical_not", x);
  return scalar_predicate(x, 0.0, std::equal_to<>{});
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  if (a.shape() != b.shape()) return false;
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) || std::isnan(y[i])) {
      if (!(equal_nan && std::isnan(x[i]) && std::isnan(y[i]))) return false;
    } else if (!(x[i] == y[i] || std::abs(x[i] - y[i]) <= atol + rtol * std::abs(y[i]))) {
      return false;
    }
  }
  return true;
}

bool equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector() == b.to_vector();
}

}  // namespace tapegrad
