#include "examples/common/html_text.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "examples/common/charset.hpp"

namespace tapegrad::text {
namespace {

constexpr auto kBlockTags = std::to_array<std::string_view>(
    {"address", "blockquote", "br", "dd", "div",   "dl", "dt", "form", "h1",
     "h2",      "h3",         "h4", "h5", "h6",    "hr", "li", "ol",   "p",
     "pre",     "table",      "td", "th", "title", "tr", "ul"});

// The longest character reference recognized, "&#x10FFFF;" (longer ones are kept as text).
constexpr std::size_t kMaxReferenceLength = 10;

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }

// The position of `needle` (lowercase) in `text` from `from` on, in any case; npos if absent.
std::size_t find_ignoring_case(std::string_view text, std::string_view needle, std::size_t from) {
  const auto match =
      std::search(text.begin() + static_cast<std::ptrdiff_t>(from), text.end(), needle.begin(),
                  needle.end(), [](char a, char b) { return lower(a) == b; });
  return match == text.end() ? std::string_view::npos
                             : static_cast<std::size_t>(match - text.begin());
}

// Builds the text: whitespace and block boundaries are remembered and written only before the next
// visible character, as one space or one line break, so runs collapse and the ends stay clean.
class TextWriter {
 public:
  void character(char c) {
    if (is_space(c)) {
      space();
      return;
    }
    if (!text_.empty() && pending_ != Pending::None)
      text_.push_back(pending_ == Pending::LineBreak ? '\n' : ' ');
    pending_ = Pending::None;
    text_.push_back(c);
  }
  void characters(std::string_view chars) {
    for (char c : chars) character(c);
  }
  void space() { pending_ = std::max(pending_, Pending::Space); }
  void line_break() { pending_ = Pending::LineBreak; }
  std::string take() { return std::move(text_); }

 private:
  enum class Pending { None, Space, LineBreak };
  std::string text_;
  Pending pending_ = Pending::None;
};

// Unescapes the character reference at `html[at]` (which is '&') into `out`; returns its length,
// or 0 if there is none there.
std::size_t unescape_reference(std::string_view html, std::size_t at, TextWriter& out) {
  const std::size_t semicolon = html.substr(at, kMaxReferenceLength + 1).find(';');
  if (semicolon == std::string_view::npos) return 0;
  const std::string_view name = html.substr(at + 1, semicolon - 1);
  const std::size_t length = semicolon + 1;
  if (name == "amp")
    out.character('&');
  else if (name == "lt")
    out.character('<');
  else if (name == "gt")
    out.character('>');
  else if (name == "quot")
    out.character('"');
  else if (name == "apos")
    out.character('\'');
  else if (name == "nbsp")
    out.space();
  else if (name.size() >= 2 && name[0] == '#') {
    const bool hex = name[1] == 'x' || name[1] == 'X';
    const std::string_view digits = name.substr(hex ? 2 : 1);
    if (digits.empty()) return 0;
    char32_t code_point = 0;
    for (char digit : digits) {
      const bool valid = hex ? std::isxdigit(static_cast<unsigned char>(digit))
                             : std::isdigit(static_cast<unsigned char>(digit));
      if (!valid) return 0;
      const char32_t value = is_alpha(digit) ? lower(digit) - 'a' + 10 : digit - '0';
      code_point = std::min<char32_t>(code_point * (hex ? 16 : 10) + value, 0x110000);
    }
    std::string encoded;
    append_utf8(encoded, code_point == 0 ? 0xFFFD : code_point);
    out.characters(encoded);
  } else {
    return 0;
  }
  return length;
}

}  // namespace

std::string html_to_text(std::string_view html) {
  TextWriter out;
  std::size_t at = 0;
  while (at < html.size()) {
    const char c = html[at];
    if (c == '&') {
      const std::size_t length = unescape_reference(html, at, out);
      if (length == 0) out.character(c);
      at += std::max<std::size_t>(length, 1);
      continue;
    }
    const bool opens_markup = c == '<' && at + 1 < html.size() &&
                              (is_alpha(html[at + 1]) || html[at + 1] == '/' ||
                               html[at + 1] == '!' || html[at + 1] == '?');
    if (!opens_markup) {
      out.character(c);
      ++at;
      continue;
    }
    if (html.substr(at, 4) == "<!--") {
      const std::size_t end = html.find("-->", at + 4);
      at = end == std::string_view::npos ? html.size() : end + 3;
      continue;
    }
    const std::size_t tag_end = html.find('>', at);
    const std::string_view tag =
        html.substr(at + 1, tag_end == std::string_view::npos ? html.npos : tag_end - at - 1);
    at = tag_end == std::string_view::npos ? html.size() : tag_end + 1;
    const bool closing = tag.starts_with('/');
    std::string name;
    for (char n : tag.substr(closing ? 1 : 0)) {
      if (!std::isalnum(static_cast<unsigned char>(n))) break;
      name.push_back(lower(n));
    }
    if (std::find(kBlockTags.begin(), kBlockTags.end(), name) != kBlockTags.end()) out.line_break();
    if (!closing && (name == "script" || name == "style")) {
      const std::size_t close = find_ignoring_case(html, "</" + name, at);
      at = close == std::string_view::npos ? html.size() : close;
    }
  }
  return out.take();
}

}  // namespace tapegrad::text
