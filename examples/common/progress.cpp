#include "examples/common/progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "autograd/error.hpp"

namespace tapegrad::report {
namespace {

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// 0:07, 12:34 or 1:02:03.
std::string format_duration(double seconds) {
  const auto whole = static_cast<int64_t>(std::llround(seconds));
  const int64_t hours = whole / 3600, minutes = whole / 60 % 60, secs = whole % 60;
  if (hours > 0) return fmt::format("{}:{:02}:{:02}", hours, minutes, secs);
  return fmt::format("{}:{:02}", minutes, secs);
}

// Three significant figures or more: 1830, 45.2, 3.07.
std::string format_rate(double per_second) {
  if (per_second >= 100) return fmt::format("{:.0f}", per_second);
  if (per_second >= 10) return fmt::format("{:.1f}", per_second);
  return fmt::format("{:.2f}", per_second);
}

}  // namespace

ProgressBar::ProgressBar(int64_t total, std::string label, ProgressBarOptions options)
    : ProgressBar(total, std::move(label), std::move(options), std::cout,
                  isatty(fileno(stdout)) == 1, steady_seconds) {}

ProgressBar::ProgressBar(int64_t total, std::string label, ProgressBarOptions options,
                         std::ostream& out, bool is_terminal, std::function<double()> now_seconds)
    : total_(total),
      label_(std::move(label)),
      options_(std::move(options)),
      out_(out),
      is_terminal_(is_terminal),
      now_seconds_(std::move(now_seconds)),
      start_seconds_(now_seconds_()),
      last_print_seconds_(start_seconds_) {
  if (total < 0) fail("ProgressBar: total {} is negative", total);
  if (options_.bar_width < 1)
    fail("ProgressBar: bar_width {} must be positive", options_.bar_width);
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(int64_t done, std::string_view extra) {
  if (finished_) fail("ProgressBar::update: '{}' is already finished", label_);
  if (done < 0) fail("ProgressBar::update: done {} is negative", done);
  done_ = done;
  extra_ = extra;
  const double since_print = now_seconds_() - last_print_seconds_;
  if (is_terminal_) {
    if (!printed_ || since_print >= options_.redraw_seconds) print(false);
    return;
  }
  const int64_t tenths = total_ == 0 ? 10 : std::min<int64_t>(done_ * 10 / total_, 10);
  if ((tenths > printed_tenths_ && tenths < 10) || since_print >= options_.plain_seconds) {
    printed_tenths_ = static_cast<int>(std::max<int64_t>(tenths, printed_tenths_));
    print(false);
  }
}

void ProgressBar::finish() {
  if (finished_) return;
  print(true);
  finished_ = true;
}

std::string ProgressBar::line(bool finished) const {
  const double fraction =
      total_ == 0 ? 1.0
                  : std::clamp(static_cast<double>(done_) / static_cast<double>(total_), 0.0, 1.0);
  const auto filled = static_cast<int>(fraction * options_.bar_width);
  std::string text = fmt::format("{} [{:#<{}}{:.<{}}] {}/{}", label_, "", filled, "",
                                 options_.bar_width - filled, done_, total_);
  if (!extra_.empty()) text += fmt::format(" | {}", extra_);
  const double elapsed = now_seconds_() - start_seconds_;
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  if (rate > 0) text += fmt::format(" | {} {}/s", format_rate(rate), options_.unit);
  if (finished) return text + fmt::format(" | {}", format_duration(elapsed));
  if (rate > 0 && done_ <= total_)
    return text +
           fmt::format(" | ETA {}", format_duration(static_cast<double>(total_ - done_) / rate));
  return text + " | ETA ?";
}

void ProgressBar::print(bool finished) {
  const std::string text = line(finished);
  if (is_terminal_) {
    out_ << '\r' << text
         << std::string(drawn_width_ > text.size() ? drawn_width_ - text.size() : 0, ' ');
    drawn_width_ = text.size();
  } else {
    out_ << text;
  }
  if (finished || !is_terminal_) out_ << '\n';
  out_.flush();
  printed_ = true;
  last_print_seconds_ = now_seconds_();
}

}  // namespace tapegrad::report
