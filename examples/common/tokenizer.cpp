#include "examples/common/tokenizer.hpp"

#include <limits>

#include "autograd/error.hpp"

namespace tapegrad::text {
namespace {

bool is_word_byte(char byte) {
  return (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
         (byte >= '0' && byte <= '9');
}

char to_lower_ascii(char byte) {
  return byte >= 'A' && byte <= 'Z' ? static_cast<char>(byte - 'A' + 'a') : byte;
}

// Appends the tokens of `text` to `tokens` until `limit` tokens were appended.
void append_tokens(std::string_view text, std::size_t limit, std::vector<std::string>& tokens) {
  std::size_t appended = 0;
  std::size_t i = 0;
  while (appended < limit) {
    while (i < text.size() && !is_word_byte(text[i])) ++i;
    if (i == text.size()) return;
    std::string token;
    for (; i < text.size() && is_word_byte(text[i]); ++i) token += to_lower_ascii(text[i]);
    tokens.push_back(std::move(token));
    ++appended;
  }
}

}  // namespace

std::vector<std::string> tokenize(std::string_view text) {
  std::vector<std::string> tokens;
  append_tokens(text, std::numeric_limits<std::size_t>::max(), tokens);
  return tokens;
}

std::vector<std::string> tokenize_mail(std::string_view subject, std::string_view body,
                                       int64_t max_body_words) {
  if (max_body_words < 0)
    fail("tokenize_mail: max_body_words must be >= 0, got {}", max_body_words);
  std::vector<std::string> tokens = tokenize(subject);
  append_tokens(body, static_cast<std::size_t>(max_body_words), tokens);
  return tokens;
}

}  // namespace tapegrad::text
