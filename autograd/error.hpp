// tapegrad::Error: every bad input becomes one of these, with a message that names the op and
// the shapes (formatted with fmt), never a crash or a silent wrong answer.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <utility>

namespace tapegrad {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws an Error whose message is fmt::format(format, args...).
template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace tapegrad
