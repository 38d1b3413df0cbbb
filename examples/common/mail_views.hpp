// The views of a mail a classifier learns from and is measured on. A user types sentences, not
// mails: a model trained on whole mails alone meets a short input far from anything it has seen.
// So each train mail also gives short labelled views written by the same sender:
//   whole    the subject, then the first body words, up to max_len ids (what encode_message gives);
//   subject  the subject line alone (a sentence the sender wrote, labelled like the mail);
//   span     a run of consecutive body words of random length and place, like a sentence
//            quoted from the mail.
// The ids of a mail's subject and body are kept apart once (EncodedMail) and the views cut from
// them, so building a view costs no tokenizing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "autograd/generator.hpp"
#include "examples/common/vocabulary.hpp"

namespace tapegrad::text {

struct EncodedMail {
  std::vector<int64_t> subject;          // ids of every subject token
  std::vector<int64_t> body;             // ids of the first body_words body tokens
  std::vector<std::string> body_tokens;  // those tokens (a span's text is cut from them)
};

EncodedMail encode_mail(const Vocabulary& vocabulary,
                        const std::vector<std::string>& subject_tokens,
                        std::vector<std::string> body_tokens);

// Subject then body, the first max_len ids.
std::vector<int64_t> whole_view(const EncodedMail& mail, int64_t max_len);
// The subject's first max_len ids (none for a mail without a subject).
std::vector<int64_t> subject_view(const EncodedMail& mail, int64_t max_len);

struct BodySpanOptions {
  int64_t min_length = 4;   // ids per span, at least...
  int64_t max_length = 24;  // ...and at most (a body shorter than the length gives all of itself)
};
struct BodySpan {
  std::vector<int64_t> ids;
  std::string text;  // its tokens joined by spaces (what its character n-grams are taken from)
};
// A span of the body: its length uniform on [min_length, max_length], its start uniform over the
// places it fits, both drawn from `generator`. Empty for an empty body. An Error unless
// 1 <= min_length <= max_length.
BodySpan body_span_view(const EncodedMail& mail, const BodySpanOptions& options,
                        Generator& generator);

}  // namespace tapegrad::text
