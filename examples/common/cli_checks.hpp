// Checks of command-line values whose messages a person reads: CLI11's own Range and
// PositiveNumber print their bounds as "%f" ("not in range 0.000000 to 179769313486231570814527…"),
// these print them as written ("--lr: must be > 0, got -1").
//   app.add_option("--lr", flags.lr, "learning rate")->check(text::positive());
//   app.add_option("--dropout", flags.dropout, "dropout")->check(text::in_range(0.0, 0.9));
//   if (const std::optional<int> exit_code = text::parse_command_line(app, argc, argv, "tool"))
//     return *exit_code;
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string_view>

namespace tapegrad::text {

// A number > 0.
CLI::Validator positive();
// A number >= 0.
CLI::Validator non_negative();
// A number in [lowest, highest].
CLI::Validator in_range(double lowest, double highest);

// Parses the command line as CLI11_PARSE does, but a bad flag or value prints "tool: message"
// (with a pointer to --help) to stderr and gives the exit code 1, as every other error of the
// tools does. The exit code when the program should stop now (1, or 0 after --help), else none.
std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv, std::string_view tool);

}  // namespace tapegrad::text
