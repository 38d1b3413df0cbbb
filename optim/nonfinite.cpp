#include "optim/nonfinite.hpp"

#include <algorithm>
#include <cmath>

#include "autograd/dtype.hpp"

namespace tapegrad::optim {

bool all_finite(const Tensor& t) {
  if (!is_floating(t.dtype())) return true;
  const Tensor values = t.contiguous();
  bool finite = true;
  dispatch_floating(values.dtype(), "optim.all_finite", [&]<class T>() {
    const T* data = values.data<T>();
    finite = std::all_of(data, data + values.numel(), [](T v) { return std::isfinite(v); });
  });
  return finite;
}

std::optional<std::string> first_nonfinite_value(const NamedTensors& tensors) {
  for (const auto& [name, t] : tensors)
    if (t.defined() && !all_finite(t)) return name;
  return std::nullopt;
}

std::optional<std::string> first_nonfinite_gradient(const NamedTensors& parameters) {
  for (const auto& [name, parameter] : parameters)
    if (parameter.defined() && parameter.grad().defined() && !all_finite(parameter.grad()))
      return name;
  return std::nullopt;
}

}  // namespace tapegrad::optim
