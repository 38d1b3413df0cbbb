// The encodings MIME lays over text: base64 and quoted-printable bodies (RFC 2045) and the encoded
// words of headers (RFC 2047). The decoders are lenient, as mail demands: bytes that do not fit the
// encoding are skipped (base64) or kept as they are (quoted-printable, encoded words).
#pragma once

#include <string>
#include <string_view>

namespace tapegrad::text {

// Base64 to bytes; characters outside the alphabet (line breaks) are skipped, and '=' padding
// ends a group, so that concatenated base64 blocks decode one after the other.
std::string decode_base64(std::string_view text);

// Quoted-printable to bytes: "=XX" (hex, either case) is one byte, '=' at the end of a line (after
// optional spaces) is a soft line break and vanishes; any other '=' is kept.
std::string decode_quoted_printable(std::string_view text);

// A header value to UTF-8: encoded words "=?charset?B?...?=" and "=?charset?Q?...?=" decoded and
// converted from their charset, whitespace between adjacent encoded words dropped, and the rest
// read as UTF-8 (invalid bytes become U+FFFD).
std::string decode_header_value(std::string_view value);

}  // namespace tapegrad::text
