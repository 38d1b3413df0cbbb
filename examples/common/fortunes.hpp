// The text corpus of the language-model example: Debian's fortune cookies (the packages fortunes
// and fortunes-min, fetched by scripts/fetch_fortunes.sh), cut into documents and split once
// for all into train and validation text.
//
// Documents: every file directly in the directory except *.dat, *.u8, art and ascii-art, in
// sorted file-name order; each file's bytes split on "\n%\n"; each piece stripped of leading and
// trailing '\n' and '%' bytes; pieces empty or whitespace only dropped; each kept piece plus one
// '\n' is a document.
// Split: FNV-1a 32 over the document's bytes (its '\n' included, as in the mail split)
//   % 10 == 0  -> validation
//   otherwise  -> train
// and each split is its documents concatenated in order. Version 1:1.99.1-7.3 of the two packages
// gives 14,742 documents, 2,227,385 train bytes and 228,590 validation bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tapegrad::text {

// The documents of the fortune files in `directory` (usr/share/games/fortunes of the cache).
std::vector<std::string> fortune_documents(const std::filesystem::path& directory);

struct TextSplit {
  std::string train, validation;
  int64_t train_documents = 0, validation_documents = 0;
};

TextSplit split_documents(const std::vector<std::string>& documents);

}  // namespace tapegrad::text
