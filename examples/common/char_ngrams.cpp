#include "examples/common/char_ngrams.hpp"

#include <algorithm>
#include <string>

#include "autograd/error.hpp"
#include "examples/common/split.hpp"
#include "examples/common/tokenizer.hpp"

namespace tapegrad::text {
namespace {

bool is_space(char byte) {
  return byte == ' ' || byte == '\t' || byte == '\n' || byte == '\r' || byte == '\f' ||
         byte == '\v';
}

std::string normalized(std::string_view text) {
  std::string out;
  for (const char byte : text) {
    if (is_space(byte)) {
      if (out.empty() || out.back() != ' ') out += ' ';
    } else {
      out += to_lower_ascii(byte);
    }
  }
  return out;
}

}  // namespace

std::vector<int64_t> char_ngram_ids(std::string_view text, const CharNgramOptions& options) {
  if (options.max_n < 1 || options.buckets < 2)
    fail("char_ngram_ids: needs max_n >= 1 and buckets >= 2, got {} and {}", options.max_n,
         options.buckets);
  const std::string bytes = normalized(text);
  const auto slots = static_cast<uint32_t>(std::min<int64_t>(options.buckets - 1, UINT32_MAX));
  std::vector<int64_t> ids;
  for (std::size_t start = 0; start < bytes.size(); ++start)
    for (std::size_t n = 1;
         n <= static_cast<std::size_t>(options.max_n) && start + n <= bytes.size(); ++n)
      ids.push_back(1 + fnv1a32(std::string_view(bytes).substr(start, n)) % slots);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace tapegrad::text
