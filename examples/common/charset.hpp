// Text in the charsets mail declares, turned into valid UTF-8. us-ascii and utf-8 are checked,
// iso-8859-1 and windows-1252 are mapped by table; any other charset keeps its bytes where they
// form valid UTF-8. Every byte that cannot be read becomes U+FFFD: the result is always valid
// UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace tapegrad::text {

// `bytes` in `charset` (an IANA name such as "ISO-8859-1", any case) as UTF-8.
std::string to_utf8(std::string_view bytes, std::string_view charset);

// `bytes` with every maximal ill-formed subsequence (Unicode 15, section 3.9) replaced by U+FFFD.
std::string sanitize_utf8(std::string_view bytes);

// Appends the UTF-8 encoding of `code_point`; surrogates and values above U+10FFFF append U+FFFD.
void append_utf8(std::string& out, char32_t code_point);

}  // namespace tapegrad::text
