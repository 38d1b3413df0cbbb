// Element types. float32 trains, float64 checks gradients; int64 holds indices (token ids,
// targets), int8 quantized weights, and bool masks. Only the floating types take part in autograd.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "autograd/error.hpp"

namespace tapegrad {

enum class DType { Float32, Float64, Int64, Int8, Bool };

inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;
inline constexpr DType kInt64 = DType::Int64;
inline constexpr DType kInt8 = DType::Int8;
inline constexpr DType kBool = DType::Bool;

constexpr std::size_t element_size(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return 4;
    case DType::Float64:
      return 8;
    case DType::Int64:
      return 8;
    case DType::Int8:
      return 1;
    case DType::Bool:
      return 1;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return "float32";
    case DType::Float64:
      return "float64";
    case DType::Int64:
      return "int64";
    case DType::Int8:
      return "int8";
    case DType::Bool:
      return "bool";
  }
  return "?";
}

constexpr bool is_floating(DType dtype) {
  return dtype == DType::Float32 || dtype == DType::Float64;
}

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::Float32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::Float64;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::Int64;
}
template <>
constexpr DType dtype_of<int8_t>() {
  return DType::Int8;
}
template <>
constexpr DType dtype_of<bool>() {
  return DType::Bool;
}

// Calls body.template operator()<T>() with T = float or double; any other dtype is an error
// naming the op. Usage: dispatch_floating(x.dtype(), "exp", [&]<class T>() { ... });
template <class Body>
decltype(auto) dispatch_floating(DType dtype, std::string_view op, Body&& body) {
  switch (dtype) {
    case DType::Float32:
      return body.template operator()<float>();
    case DType::Float64:
      return body.template operator()<double>();
    default:
      fail("{}: expected a floating tensor (float32 or float64), got {}", op, dtype_name(dtype));
  }
}

// Like dispatch_floating, over every dtype.
template <class Body>
decltype(auto) dispatch_all(DType dtype, Body&& body) {
  switch (dtype) {
    case DType::Float32:
      return body.template operator()<float>();
    case DType::Float64:
      return body.template operator()<double>();
    case DType::Int64:
      return body.template operator()<int64_t>();
    case DType::Int8:
      return body.template operator()<int8_t>();
    case DType::Bool:
      return body.template operator()<bool>();
  }
  fail("unknown dtype");
}

}  // namespace tapegrad

template <>
struct fmt::formatter<tapegrad::DType> : fmt::formatter<std::string_view> {
  auto format(tapegrad::DType dtype, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(tapegrad::dtype_name(dtype), ctx);
  }
};
