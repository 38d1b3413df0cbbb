#include "examples/common/mime_decode.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>

#include "examples/common/charset.hpp"

namespace tapegrad::text {
namespace {

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The 6-bit value of each byte in the base64 alphabet, -1 for every other byte.
constexpr std::array<int, 256> kBase64Values = [] {
  std::array<int, 256> values{};
  values.fill(-1);
  for (std::size_t i = 0; i < kBase64Alphabet.size(); ++i)
    values[static_cast<unsigned char>(kBase64Alphabet[i])] = static_cast<int>(i);
  return values;
}();

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The length of the soft line break at `text[at]` (which is '='): '=', optional spaces or tabs,
// then a line end or the end of the text. Zero if there is none.
std::size_t soft_line_break_length(std::string_view text, std::size_t at) {
  std::size_t end = at + 1;
  while (end < text.size() && (text[end] == ' ' || text[end] == '\t')) ++end;
  if (end == text.size()) return end - at;
  if (text[end] == '\n') return end + 1 - at;
  if (text[end] == '\r' && end + 1 < text.size() && text[end + 1] == '\n') return end + 2 - at;
  return 0;
}

// Quoted-printable (RFC 2045) and the Q encoding of headers (RFC 2047) differ only in '_', which
// Q reads as a space.
std::string decode_quoted(std::string_view text, bool underscore_is_space) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '=' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
        hex_value(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 3;
    } else if (const std::size_t skip = c == '=' ? soft_line_break_length(text, i) : 0; skip > 0) {
      i += skip;
    } else {
      out.push_back(c == '_' && underscore_is_space ? ' ' : c);
      ++i;
    }
  }
  return out;
}

struct EncodedWord {
  std::string_view charset;  // without an RFC 2231 "*language" suffix
  char encoding;             // 'B' or 'Q'
  std::string_view text;
  std::size_t length;  // of the whole word, from "=?" to "?="
};

// The encoded word at the start of `value` (which starts with "=?"), if it is one. Each scan stops
// at the next '?' (or whitespace), so repeated attempts over a header stay linear in its length.
std::optional<EncodedWord> encoded_word_at(std::string_view value) {
  constexpr std::size_t kMaxCharsetLength = 64;
  const std::size_t charset_end = value.find('?', 2);
  if (charset_end == std::string_view::npos || charset_end == 2 ||
      charset_end - 2 > kMaxCharsetLength || charset_end + 2 >= value.size() ||
      value[charset_end + 2] != '?')
    return std::nullopt;
  const char encoding =
      static_cast<char>(std::toupper(static_cast<unsigned char>(value[charset_end + 1])));
  if (encoding != 'B' && encoding != 'Q') return std::nullopt;
  const std::size_t text_begin = charset_end + 3;
  std::size_t text_end = text_begin;
  while (text_end < value.size() && value[text_end] != '?' &&
         !std::isspace(static_cast<unsigned char>(value[text_end])))
    ++text_end;
  if (text_end + 1 >= value.size() || value[text_end] != '?' || value[text_end + 1] != '=')
    return std::nullopt;
  std::string_view charset = value.substr(2, charset_end - 2);
  charset = charset.substr(0, charset.find('*'));
  if (std::any_of(charset.begin(), charset.end(), [](unsigned char c) { return std::isspace(c); }))
    return std::nullopt;
  return EncodedWord{charset, encoding, value.substr(text_begin, text_end - text_begin),
                     text_end + 2};
}

bool is_blank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c); });
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](unsigned char x, unsigned char y) {
    return std::tolower(x) == std::tolower(y);
  });
}

}  // namespace

std::string decode_base64(std::string_view text) {
  std::string out;
  out.reserve(text.size() / 4 * 3 + 3);
  unsigned bits = 0, bit_count = 0;
  for (unsigned char c : text) {
    if (c == '=') {
      bits = bit_count = 0;
      continue;
    }
    const int value = kBase64Values[c];
    if (value < 0) continue;
    bits = (bits << 6 | static_cast<unsigned>(value)) & 0xFFFFFFu;
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out.push_back(static_cast<char>(bits >> bit_count));
    }
  }
  return out;
}

std::string decode_quoted_printable(std::string_view text) { return decode_quoted(text, false); }

std::string decode_header_value(std::string_view value) {
  std::string out;
  // Adjacent encoded words in one charset are decoded together before conversion, so that a
  // character split across two words (which happens) comes out whole.
  std::string pending_bytes;
  std::string_view pending_charset;
  const auto flush_pending = [&] {
    out += to_utf8(pending_bytes, pending_charset);
    pending_bytes.clear();
  };
  std::size_t literal_begin = 0, at = 0;
  bool after_word = false;
  while ((at = value.find("=?", at)) != std::string_view::npos) {
    const std::optional<EncodedWord> word = encoded_word_at(value.substr(at));
    if (!word) {
      at += 2;
      continue;
    }
    const std::string_view literal = value.substr(literal_begin, at - literal_begin);
    if (!after_word || !is_blank(literal)) {
      flush_pending();
      out += sanitize_utf8(literal);
    }
    if (!equal_ignoring_case(word->charset, pending_charset)) flush_pending();
    pending_charset = word->charset;
    pending_bytes +=
        word->encoding == 'B' ? decode_base64(word->text) : decode_quoted(word->text, true);
    at += word->length;
    literal_begin = at;
    after_word = true;
  }
  flush_pending();
  out += sanitize_utf8(value.substr(literal_begin));
  return out;
}

}  // namespace tapegrad::text
