// Hashed character n-grams of a text: the features of the classifier's bag-of-n-grams path
// (spam_model.hpp). Character n-grams read what word tokens drop: a word never seen in training
// ("mortgge", "dfvht"), case-folded punctuation runs ("!!!", "$$"), parts of words, and the bytes
// of non-ASCII text; on subject lines alone a logistic regression on them beats one on words.
//
// The text is normalized first: ASCII letters lowercased, each run of whitespace one space, other
// bytes kept. Every run of 1 to max_n consecutive bytes of it is an n-gram ("Hi!" gives "h", "i",
// "!", "hi", "i!", "hi!"); each is hashed (FNV-1a, 32 bits) into one of the ids 1..buckets-1
// (0 stays free for padding), and the ids are returned sorted, once each (presence, not counts,
// as a binary bag of words).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace tapegrad::text {

struct CharNgramOptions {
  int64_t max_n = 5;
  int64_t buckets = int64_t{1} << 18;
};

// An Error unless max_n >= 1 and buckets >= 2.
std::vector<int64_t> char_ngram_ids(std::string_view text, const CharNgramOptions& options = {});

}  // namespace tapegrad::text
