// Printing tensors in PyTorch's style, with fmt or iostreams:
//   tensor([[ 0.1000, -2.0000],
//           [ 3.0000,  4.5000]], dtype=float64, requires_grad=True)
// Rows wrap at 80 columns; tensors of more than 1000 elements show only the first and last 3
// entries of each dim.
#pragma once

#include <fmt/format.h>

#include <iosfwd>
#include <string>

#include "autograd/tensor.hpp"

namespace tapegrad {

std::string to_string(const Tensor& t);
std::ostream& operator<<(std::ostream& out, const Tensor& t);

}  // namespace tapegrad

template <>
struct fmt::formatter<tapegrad::Tensor> : fmt::formatter<std::string_view> {
  auto format(const tapegrad::Tensor& t, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(tapegrad::to_string(t), ctx);
  }
};
