// Words of a mail, the same on every platform and locale: a token is a maximal run of ASCII
// letters and digits, lowercased. Every other byte separates tokens: spaces, punctuation, control
// bytes and every byte of a non-ASCII UTF-8 sequence ("café" gives "caf"; "naïve" gives "na",
// "ve").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tapegrad::text {

// 'A'-'Z' to 'a'-'z'; every other byte as it is (no locale).
char to_lower_ascii(char byte);

// The tokens of `text`, in order: "Hello, World 42!" -> {"hello", "world", "42"}.
std::vector<std::string> tokenize(std::string_view text);

// The tokens of the subject, then the first `max_body_words` tokens of the body (all of the
// subject: it is short and says much). An Error if max_body_words is negative.
std::vector<std::string> tokenize_mail(std::string_view subject, std::string_view body,
                                       int64_t max_body_words);

// The start of `text` through the end of its first `words` tokens (all of it if it holds fewer):
// the text a model that reads `words` tokens sees. An Error if words is negative.
std::string_view leading_words(std::string_view text, int64_t words);

// Where each token of `text` lies, in order: the bytes [begin, end) that tokenize lowercases.
struct TokenOffsets {
  std::size_t begin, end;
};
std::vector<TokenOffsets> token_offsets(std::string_view text);

}  // namespace tapegrad::text
