#include "examples/common/mail.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <optional>
#include <vector>

#include "autograd/error.hpp"
#include "examples/common/charset.hpp"
#include "examples/common/html_text.hpp"
#include "examples/common/mime_decode.hpp"

namespace tapegrad::text {
namespace {

constexpr int kMaxMultipartDepth = 8;

struct Header {
  std::string name;   // lowercase
  std::string value;  // unfolded, without surrounding whitespace
};

// A message or one part of a multipart: its headers and the raw bytes of its body.
struct Entity {
  std::vector<Header> headers;
  std::string_view body;
};

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

std::string lowercase(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

// Removes the first line from `rest` and returns it without its "\n" or "\r\n".
std::string_view take_line(std::string_view& rest) {
  const std::size_t newline = rest.find('\n');
  std::string_view line = rest.substr(0, newline);
  rest.remove_prefix(newline == std::string_view::npos ? rest.size() : newline + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// A field name is printable ASCII without ':' or spaces (RFC 5322 section 2.2).
bool is_field_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return c > ' ' && c < 127 && c != ':';
  });
}

// Headers up to the first empty line, the body after it. A line that starts with a space or tab
// continues the header before it; a line that is no "name: value" is skipped with its
// continuations (this includes the mbox "From " line).
Entity split_entity(std::string_view raw) {
  Entity entity;
  bool continues_header = false;
  std::string_view rest = raw;
  while (!rest.empty()) {
    const std::string_view line = take_line(rest);
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') {
      if (continues_header) entity.headers.back().value += line;
      continue;
    }
    const std::size_t colon = line.find(':');
    const std::string_view name = trim(line.substr(0, colon));
    continues_header = colon != std::string_view::npos && is_field_name(name);
    if (continues_header)
      entity.headers.push_back({lowercase(name), std::string(line.substr(colon + 1))});
  }
  for (Header& header : entity.headers) header.value = std::string(trim(header.value));
  entity.body = rest;
  return entity;
}

// The value of the first header called `name` (lowercase), empty if there is none.
std::string_view header_value(const Entity& entity, std::string_view name) {
  const auto found = std::find_if(entity.headers.begin(), entity.headers.end(),
                                  [&](const Header& header) { return header.name == name; });
  return found == entity.headers.end() ? std::string_view{} : std::string_view(found->value);
}

// The lowercase token before the parameters of a structured header: "text/html" in
// "Text/HTML; charset=utf-8", "attachment" in "attachment; filename=a.txt".
std::string leading_token(std::string_view value) {
  return lowercase(trim(value.substr(0, value.find(';'))));
}

// The parameter `name` (lowercase) of a structured header, quoted or not; empty if absent.
std::string header_parameter(std::string_view value, std::string_view name) {
  std::size_t at = value.find(';');
  while (at < value.size()) {
    ++at;  // past ';'
    const std::size_t equals = value.find_first_of("=;", at);
    if (equals == std::string_view::npos || value[equals] == ';') {
      at = equals;
      continue;
    }
    const bool wanted = lowercase(trim(value.substr(at, equals - at))) == name;
    std::size_t end = equals + 1;
    while (end < value.size() && is_space(value[end])) ++end;
    std::string parameter;
    if (end < value.size() && value[end] == '"') {
      for (++end; end < value.size() && value[end] != '"'; ++end) {
        if (value[end] == '\\' && end + 1 < value.size()) ++end;
        parameter.push_back(value[end]);
      }
      end = value.find(';', end);
    } else {
      const std::size_t semicolon = value.find(';', end);
      parameter = trim(
          value.substr(end, semicolon == std::string_view::npos ? value.npos : semicolon - end));
      end = semicolon;
    }
    if (wanted) return parameter;
    at = end;
  }
  return {};
}

// The media type, "text/plain" when it is missing or not of the form "type/subtype".
std::string media_type(const Entity& entity) {
  const std::string type = leading_token(header_value(entity, "content-type"));
  return type.find('/') == std::string::npos ? "text/plain" : type;
}

// What `line` (without its line end) is: the delimiter "--boundary", the close delimiter
// "--boundary--" (either followed by nothing but whitespace), or neither.
enum class Delimiter { None, Part, Close };
Delimiter delimiter_kind(std::string_view line, std::string_view dash_boundary) {
  if (!line.starts_with(dash_boundary)) return Delimiter::None;
  line.remove_prefix(dash_boundary.size());
  const bool close = line.starts_with("--");
  if (close) line.remove_prefix(2);
  if (!trim(line).empty()) return Delimiter::None;
  return close ? Delimiter::Close : Delimiter::Part;
}

// The body parts of a multipart body (RFC 2046 section 5.1.1): preamble and epilogue dropped, the
// line end before each delimiter belonging to the delimiter; a missing close delimiter ends the
// last part at the end of the body.
std::vector<std::string_view> split_multipart(std::string_view body, std::string_view boundary) {
  const std::string dash_boundary = "--" + std::string(boundary);
  std::vector<std::string_view> parts;
  std::optional<std::size_t> part_begin;
  std::size_t line_begin = 0;
  while (line_begin < body.size()) {
    std::string_view rest = body.substr(line_begin);
    const Delimiter delimiter = delimiter_kind(take_line(rest), dash_boundary);
    const std::size_t next_line = body.size() - rest.size();
    if (delimiter != Delimiter::None) {
      if (part_begin) {
        std::size_t part_end = line_begin;
        if (part_end > *part_begin && body[part_end - 1] == '\n') --part_end;
        if (part_end > *part_begin && body[part_end - 1] == '\r') --part_end;
        parts.push_back(body.substr(*part_begin, part_end - *part_begin));
      }
      if (delimiter == Delimiter::Close) return parts;
      part_begin = next_line;
    }
    line_begin = next_line;
  }
  if (part_begin) parts.push_back(body.substr(*part_begin));
  return parts;
}

struct TextParts {
  std::optional<Entity> plain, html;
};

// Walks the MIME tree depth first, in order, keeping the first text/plain and the first text/html
// part that are not attachments.
void find_text_parts(const Entity& entity, int depth, TextParts& found) {
  if (found.plain) return;
  const std::string type = media_type(entity);
  if (type.starts_with("multipart/")) {
    const std::string boundary = header_parameter(header_value(entity, "content-type"), "boundary");
    if (boundary.empty() || depth >= kMaxMultipartDepth) return;
    for (std::string_view part : split_multipart(entity.body, boundary))
      find_text_parts(split_entity(part), depth + 1, found);
    return;
  }
  if (leading_token(header_value(entity, "content-disposition")) == "attachment") return;
  if (type == "text/plain") found.plain = entity;
  if (type == "text/html" && !found.html) found.html = entity;
}

// The text of a part: transfer encoding undone, charset converted to UTF-8.
std::string decode_text(const Entity& part) {
  const std::string encoding = leading_token(header_value(part, "content-transfer-encoding"));
  const std::string bytes = encoding == "base64"             ? decode_base64(part.body)
                            : encoding == "quoted-printable" ? decode_quoted_printable(part.body)
                                                             : std::string(part.body);
  return to_utf8(bytes, header_parameter(header_value(part, "content-type"), "charset"));
}

std::string with_lf_line_ends(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i)
    if (!(text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) out.push_back(text[i]);
  return out;
}

}  // namespace

Mail parse_mail(std::string_view raw) {
  const Entity message = split_entity(raw);
  TextParts found;
  find_text_parts(message, 0, found);
  Mail mail;
  mail.subject = decode_header_value(header_value(message, "subject"));
  if (found.plain)
    mail.body = with_lf_line_ends(decode_text(*found.plain));
  else if (found.html)
    mail.body = html_to_text(decode_text(*found.html));
  return mail;
}

Mail read_mail(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) fail("read_mail: cannot open {}", path.string());
  const std::string raw{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  if (file.bad()) fail("read_mail: cannot read {}", path.string());
  return parse_mail(raw);
}

}  // namespace tapegrad::text
