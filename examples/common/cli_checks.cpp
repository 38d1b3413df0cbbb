#include "examples/common/cli_checks.hpp"

#include <fmt/format.h>

#include <cstdio>

#include <functional>
#include <string>

namespace tapegrad::text {
namespace {

// A validator that passes a number for which `holds` is true and otherwise says "must be
// <requirement>, got <text>"; text that is no number is said to be none.
CLI::Validator number_check(std::string requirement, std::function<bool(double)> holds) {
  return CLI::Validator(
      [requirement, holds](std::string& text) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(text, value))
          return fmt::format("must be a number {}, got '{}'", requirement, text);
        return holds(value) ? std::string() : fmt::format("must be {}, got {}", requirement, text);
      },
      requirement);
}

}  // namespace

CLI::Validator positive() {
  return number_check("> 0", [](double value) { return value > 0; });
}

CLI::Validator non_negative() {
  return number_check(">= 0", [](double value) { return value >= 0; });
}

std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv, std::string_view tool) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    fmt::print(stderr, "{}: {} (--help lists the flags)\n", tool, e.what());
    return 1;
  }
}

CLI::Validator in_range(double lowest, double highest) {
  return number_check(fmt::format("in [{}, {}]", lowest, highest),
                      [=](double value) { return value >= lowest && value <= highest; });
}

}  // namespace tapegrad::text
