// Reads one e-mail (RFC 822 / 5322 bytes with MIME, RFC 2045-2047) into the two texts a classifier
// learns from: its subject and its body. The body is the first text/plain part of the MIME tree,
// or failing that the text of the first text/html part; attachments are skipped, transfer
// encodings undone, charsets converted. Any bytes at all give a Mail of valid UTF-8, in time
// linear in their length: mail in the wild is malformed, and this reader will be fuzzed.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace tapegrad::text {

struct Mail {
  std::string subject;  // encoded words decoded, unfolded; empty if there is no Subject
  std::string body;     // line ends "\n"; empty if the mail has no readable text part
};

// Never throws (except std::bad_alloc) and accepts any bytes: CRLF or LF line ends, folded
// headers, malformed header lines (skipped), no blank line (all headers, empty body), unclosed
// multiparts. Multiparts nested deeper than 8 levels are not read.
Mail parse_mail(std::string_view raw);

// parse_mail of the file's bytes; throws tapegrad::Error naming the file if it cannot be read.
Mail read_mail(const std::filesystem::path& path);

}  // namespace tapegrad::text
