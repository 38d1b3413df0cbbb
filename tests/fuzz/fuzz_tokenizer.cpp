// libFuzzer target: tokenize and tokenize_mail accept any bytes and never throw. Every token is a
// non-empty run of lowercase ASCII letters and digits; tokenize_mail gives the subject's tokens,
// then at most max_body_words of the body's. The first input byte is max_body_words, the rest is
// split in two at its middle: subject, then body.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "examples/common/tokenizer.hpp"

namespace {

bool is_token(const std::string& token) {
  return !token.empty() && std::all_of(token.begin(), token.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace tapegrad::text;
  if (size == 0) return 0;
  const int64_t max_body_words = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string_view subject = text.substr(0, text.size() / 2);
  const std::string_view body = text.substr(text.size() / 2);

  const std::vector<std::string> tokens = tokenize(text);
  const std::vector<std::string> subject_tokens = tokenize(subject);
  const std::vector<std::string> body_tokens = tokenize(body);
  const std::vector<std::string> mail_tokens = tokenize_mail(subject, body, max_body_words);
  if (!std::all_of(tokens.begin(), tokens.end(), is_token)) __builtin_trap();
  const std::size_t kept_body_words =
      std::min(body_tokens.size(), static_cast<std::size_t>(max_body_words));
  if (mail_tokens.size() != subject_tokens.size() + kept_body_words ||
      !std::equal(subject_tokens.begin(), subject_tokens.end(), mail_tokens.begin()) ||
      !std::equal(body_tokens.begin(), body_tokens.begin() + kept_body_words,
                  mail_tokens.begin() + subject_tokens.size()))
    __builtin_trap();
  return 0;
}
