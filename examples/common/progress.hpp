// A progress bar for long work (an epoch, an evaluation pass):
//   epoch 3 [#########...................] 120/580 | loss 0.412 | 1830 seq/s |
//   ETA 0:12
// On a terminal the line is redrawn in place (\r) at most every redraw_seconds. Anywhere else (a CI
// log, a file) it prints a plain line at each tenth of the work or every plain_seconds, whichever
// comes first, so logs stay short. The rate and ETA come from the time since the bar was made; the
// clock, the stream and the terminal test can be injected for tests.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>

namespace tapegrad::report {

struct ProgressBarOptions {
  std::string unit = "seq";     // the rate prints as "1830 seq/s"
  int bar_width = 30;           // characters between the brackets
  double redraw_seconds = 0.1;  // terminal: at most ten redraws a second
  double plain_seconds = 30;    // not a terminal: a line at least this often, besides each tenth
};

class ProgressBar {
 public:
  // Writes to std::cout, redraws in place if stdout is a terminal, times with
  // std::chrono::steady_clock.
  ProgressBar(int64_t total, std::string label, ProgressBarOptions options = {});
  ProgressBar(int64_t total, std::string label, ProgressBarOptions options, std::ostream& out,
              bool is_terminal, std::function<double()> now_seconds);
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  // Calls finish() if it was not called.
  ~ProgressBar();

  // `done` items out of total so far; `extra` (e.g. "loss 0.412") is shown after the counts.
  void update(int64_t done, std::string_view extra = {});
  // Prints the final line with the elapsed time in place of the ETA and ends it with a newline.
  // Later calls do nothing.
  void finish();

 private:
  std::string line(bool finished) const;
  void print(bool finished);

  int64_t total_;
  std::string label_;
  ProgressBarOptions options_;
  std::ostream& out_;
  bool is_terminal_;
  std::function<double()> now_seconds_;
  double start_seconds_;
  double last_print_seconds_;
  int64_t done_ = 0;
  std::string extra_;
  int printed_tenths_ = 0;       // plain lines: the last tenth of the work reported
  std::size_t drawn_width_ = 0;  // terminal: the length of the line on screen, to blank leftovers
  bool printed_ = false;
  bool finished_ = false;
};

}  // namespace tapegrad::report
