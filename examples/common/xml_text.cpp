#include "examples/common/xml_text.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace tapegrad::report {
namespace {

// The length of the UTF-8 sequence starting at text[i], or 0 if it is not a valid one.
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  const std::size_t length = lead < 0x80                   ? 1
                             : lead >= 0xC2 && lead < 0xE0 ? 2
                             : lead >= 0xE0 && lead < 0xF0 ? 3
                             : lead >= 0xF0 && lead < 0xF5 ? 4
                                                           : 0;
  if (length == 0 || i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  // Overlong three- and four-byte forms, UTF-16 surrogates and code points above U+10FFFF.
  if (lead == 0xE0 && byte(i + 1) < 0xA0) return 0;
  if (lead == 0xED && byte(i + 1) >= 0xA0) return 0;
  if (lead == 0xF0 && byte(i + 1) < 0x90) return 0;
  if (lead == 0xF4 && byte(i + 1) >= 0x90) return 0;
  return length;
}

// A character of one byte as XML text.
std::string escaped(char c) {
  switch (c) {
    case '&':
      return "&amp;";
    case '<':
      return "&lt;";
    case '>':
      return "&gt;";
    case '"':
      return "&quot;";
    case '\'':
      return "&apos;";
    case '\n':
      return "\\n";
    case '\t':
      return "\\t";
  }
  if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return fmt::format("\\x{:02X}", c);
  return std::string(1, c);
}

}  // namespace

std::string xml_text(std::string_view text, std::size_t max_chars) {
  std::string out;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size(); ++chars) {
    if (chars == max_chars) return out + "…";
    const std::size_t length = utf8_sequence_length(text, i);
    if (length == 0)
      out += "\uFFFD";
    else if (length > 1)
      out.append(text.substr(i, length));
    else
      out += escaped(text[i]);
    i += std::max<std::size_t>(length, 1);
  }
  return out;
}

std::size_t shown_chars(std::string_view text, std::size_t max_chars) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size() && chars <= max_chars; ++chars)
    i += std::max<std::size_t>(utf8_sequence_length(text, i), 1);
  return std::min(chars, max_chars + 1);
}

}  // namespace tapegrad::report
