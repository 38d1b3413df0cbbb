#include "examples/common/charset.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace tapegrad::text {
namespace {

constexpr char32_t kReplacement = 0xFFFD;

// windows-1252 bytes 0x80..0x9F; the five bytes it leaves undefined read as U+FFFD. Every other
// byte means the same code point as in iso-8859-1.
constexpr std::array<char32_t, 32> kWindows1252High = {
    0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,  // 0x80
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD,  // 0x88
    0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,  // 0x90
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178,  // 0x98
};

enum class Charset { Latin1, Windows1252, Utf8OrUnknown };

Charset charset_named(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "iso-8859-1" || lower == "iso8859-1" || lower == "iso_8859-1" || lower == "latin1" ||
      lower == "latin-1")
    return Charset::Latin1;
  if (lower == "windows-1252" || lower == "cp1252") return Charset::Windows1252;
  return Charset::Utf8OrUnknown;
}

std::string single_byte_to_utf8(std::string_view bytes, Charset charset) {
  std::string out;
  out.reserve(bytes.size());
  for (unsigned char byte : bytes) {
    const bool windows_high = charset == Charset::Windows1252 && byte >= 0x80 && byte < 0xA0;
    append_utf8(out, windows_high ? kWindows1252High[byte - 0x80] : char32_t{byte});
  }
  return out;
}

bool in_range(unsigned char byte, unsigned char low, unsigned char high) {
  return byte >= low && byte <= high;
}

// What a UTF-8 lead byte promises: how many continuation bytes follow, and the range allowed for
// the first of them (narrower than 0x80..0xBF where the wider range would give an overlong form, a
// surrogate or a code point above U+10FFFF). Zero continuations: the byte cannot start a sequence.
struct SequenceShape {
  std::size_t continuations = 0;
  unsigned char low = 0x80, high = 0xBF;
};

SequenceShape sequence_shape(unsigned char lead) {
  if (in_range(lead, 0xC2, 0xDF)) return {1};
  if (lead == 0xE0) return {2, 0xA0, 0xBF};
  if (lead == 0xED) return {2, 0x80, 0x9F};
  if (in_range(lead, 0xE1, 0xEF)) return {2};
  if (lead == 0xF0) return {3, 0x90, 0xBF};
  if (lead == 0xF4) return {3, 0x80, 0x8F};
  if (in_range(lead, 0xF1, 0xF3)) return {3};
  return {0};
}

}  // namespace

void append_utf8(std::string& out, char32_t code_point) {
  if ((code_point >= 0xD800 && code_point <= 0xDFFF) || code_point > 0x10FFFF)
    code_point = kReplacement;
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

std::string sanitize_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto lead = static_cast<unsigned char>(bytes[i]);
    if (lead < 0x80) {
      out.push_back(static_cast<char>(lead));
      ++i;
      continue;
    }
    const SequenceShape shape = sequence_shape(lead);
    std::size_t length = 1;
    while (length <= shape.continuations && i + length < bytes.size() &&
           in_range(static_cast<unsigned char>(bytes[i + length]), length == 1 ? shape.low : 0x80,
                    length == 1 ? shape.high : 0xBF))
      ++length;
    if (shape.continuations > 0 && length == shape.continuations + 1)
      out.append(bytes.substr(i, length));
    else
      append_utf8(out, kReplacement);
    i += length;
  }
  return out;
}

std::string to_utf8(std::string_view bytes, std::string_view charset) {
  const Charset known = charset_named(charset);
  return known == Charset::Utf8OrUnknown ? sanitize_utf8(bytes) : single_byte_to_utf8(bytes, known);
}

}  // namespace tapegrad::text
