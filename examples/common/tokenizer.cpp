#include "examples/common/tokenizer.hpp"

#include <limits>

#include "autograd/error.hpp"

namespace tapegrad::text {
namespace {

bool is_word_byte(char byte) {
  return (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
         (byte >= '0' && byte <= '9');
}

// Calls visit(begin, end) with the byte range of each token of `text`, in order, until `limit`
// tokens were visited.
template <class Visit>
void for_each_token(std::string_view text, std::size_t limit, Visit&& visit) {
  std::size_t i = 0;
  for (std::size_t visited = 0; visited < limit; ++visited) {
    while (i < text.size() && !is_word_byte(text[i])) ++i;
    if (i == text.size()) return;
    const std::size_t begin = i;
    while (i < text.size() && is_word_byte(text[i])) ++i;
    visit(begin, i);
  }
}

// Appends the tokens of `text` to `tokens` until `limit` tokens were appended.
void append_tokens(std::string_view text, std::size_t limit, std::vector<std::string>& tokens) {
  for_each_token(text, limit, [&](std::size_t begin, std::size_t end) {
    std::string token;
    for (std::size_t i = begin; i < end; ++i) token += to_lower_ascii(text[i]);
    tokens.push_back(std::move(token));
  });
}

}  // namespace

char to_lower_ascii(char byte) {
  return byte >= 'A' && byte <= 'Z' ? static_cast<char>(byte - 'A' + 'a') : byte;
}

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

std::string_view leading_words(std::string_view text, int64_t words) {
  if (words < 0) fail("leading_words: words must be >= 0, got {}", words);
  std::size_t end = 0;
  std::size_t seen = 0;
  for_each_token(text, static_cast<std::size_t>(words), [&](std::size_t, std::size_t token_end) {
    end = token_end;
    ++seen;
  });
  return seen < static_cast<std::size_t>(words) ? text : text.substr(0, end);
}

std::vector<TokenOffsets> token_offsets(std::string_view text) {
  std::vector<TokenOffsets> offsets;
  for_each_token(text, std::numeric_limits<std::size_t>::max(),
                 [&](std::size_t begin, std::size_t end) {
                   offsets.push_back({begin, end});
                 });
  return offsets;
}

}  // namespace tapegrad::text
