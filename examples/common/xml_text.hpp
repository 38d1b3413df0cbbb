// Any bytes as XML character data that parses: tokens from mail bodies can hold markup, control
// characters and invalid UTF-8, and a browser refuses an SVG file with any of them raw.
#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <string_view>

namespace tapegrad::report {

// `text` escaped for XML text and attribute values (& < > " '), invalid UTF-8 bytes as U+FFFD,
// control characters spelled out (\n, \t, \x01); cut to `max_chars` characters followed by "…"
// when longer.
std::string xml_text(std::string_view text,
                     std::size_t max_chars = std::numeric_limits<std::size_t>::max());

// How many characters xml_text(text, max_chars) shows (an escape or "…" counts as one): for laying
// out labels.
std::size_t shown_chars(std::string_view text, std::size_t max_chars);

}  // namespace tapegrad::report
