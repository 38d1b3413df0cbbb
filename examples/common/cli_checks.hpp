// Checks of command-line values whose messages a person reads: CLI11's own Range and
// PositiveNumber print their bounds as "%f" ("not in range 0.000000 to 179769313486231570814527…"),
// these print them as written ("--lr: must be > 0, got -1").
//   app.add_option("--lr", flags.lr, "learning rate")->check(text::positive());
//   app.add_option("--dropout", flags.dropout, "dropout")->check(text::in_range(0.0, 0.9));
#pragma once

#include <CLI/CLI.hpp>

namespace tapegrad::text {

// A number > 0.
CLI::Validator positive();
// A number >= 0.
CLI::Validator non_negative();
// A number in [lowest, highest].
CLI::Validator in_range(double lowest, double highest);

}  // namespace tapegrad::text
