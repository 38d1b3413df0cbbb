#include "examples/common/mail_views.hpp"

#include <algorithm>
#include <utility>

#include "autograd/error.hpp"

namespace tapegrad::text {
namespace {

std::vector<int64_t> first(const std::vector<int64_t>& ids, int64_t count) {
  return {ids.begin(), ids.begin() + std::min<int64_t>(count, static_cast<int64_t>(ids.size()))};
}

}  // namespace

EncodedMail encode_mail(const Vocabulary& vocabulary,
                        const std::vector<std::string>& subject_tokens,
                        std::vector<std::string> body_tokens) {
  const auto all = [&](const std::vector<std::string>& tokens) {
    return vocabulary.encode(tokens, std::max<int64_t>(1, static_cast<int64_t>(tokens.size())));
  };
  std::vector<int64_t> body = all(body_tokens);
  return {all(subject_tokens), std::move(body), std::move(body_tokens)};
}

std::vector<int64_t> whole_view(const EncodedMail& mail, int64_t max_len) {
  std::vector<int64_t> ids = first(mail.subject, max_len);
  const int64_t room = max_len - static_cast<int64_t>(ids.size());
  const std::vector<int64_t> body = first(mail.body, room);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

std::vector<int64_t> subject_view(const EncodedMail& mail, int64_t max_len) {
  return first(mail.subject, max_len);
}

BodySpan body_span_view(const EncodedMail& mail, const BodySpanOptions& options,
                        Generator& generator) {
  if (options.min_length < 1 || options.max_length < options.min_length)
    fail("body_span_view: needs 1 <= min_length <= max_length, got {} and {}", options.min_length,
         options.max_length);
  const auto lengths = static_cast<uint64_t>(options.max_length - options.min_length + 1);
  const auto length =
      std::min<int64_t>(options.min_length + static_cast<int64_t>(generator.below(lengths)),
                        static_cast<int64_t>(mail.body.size()));
  if (length == 0) return {};
  const auto starts = static_cast<uint64_t>(static_cast<int64_t>(mail.body.size()) - length + 1);
  const auto start = static_cast<int64_t>(generator.below(starts));
  BodySpan span{{mail.body.begin() + start, mail.body.begin() + start + length}, {}};
  for (int64_t i = start; i < start + length; ++i)
    span.text += (i > start ? " " : "") + mail.body_tokens[static_cast<std::size_t>(i)];
  return span;
}

}  // namespace tapegrad::text
