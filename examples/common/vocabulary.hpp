// A vocabulary: token <-> id. Id 0 is "<pad>" (fills a batch's rows up to the longest), id 1 is
// "<unk>" (any token it does not hold); then the kept tokens, most frequent first, ties in byte
// order of the token, so the same documents give the same ids everywhere. Build it from the train
// split only: tokens seen only in dev or test must stay unknown, as they would be in use.
// Saved as JSON: {"tokens": ["<pad>", "<unk>", ...], "min_count": 2, "max_size": 20000 or null}.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tapegrad::text {

struct VocabularyOptions {
  int64_t min_count = 1;                 // keep tokens seen at least this often (in all documents)
  std::optional<int64_t> max_size = {};  // at most this many ids, <pad> and <unk> included
};

class Vocabulary {
 public:
  static constexpr int64_t kPad = 0;
  static constexpr int64_t kUnk = 1;

  // Counts every token of every document; "<pad>" and "<unk>" in the documents are not counted.
  static Vocabulary build(const std::vector<std::vector<std::string>>& documents,
                          VocabularyOptions options = {});
  // Reads the JSON text save() writes. An Error naming `source` for anything else: bad JSON,
  // missing keys, wrong types, duplicate or empty tokens, <pad> and <unk> not at 0 and 1, more than
  // max_size.
  static Vocabulary decode(std::string_view json_text, std::string_view source);
  // decode of the file's text; an Error naming the file when it is unreadable too.
  static Vocabulary load(const std::filesystem::path& path);
  void save(const std::filesystem::path& path) const;

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  const VocabularyOptions& options() const { return options_; }
  // The id of `token`, kUnk if it holds no such token.
  int64_t id(std::string_view token) const;
  // The token of `id`; an Error if id is not in [0, size()).
  const std::string& token(int64_t id) const;
  // The ids of the first max_len tokens (fewer if there are fewer; no padding: batching pads).
  std::vector<int64_t> encode(const std::vector<std::string>& tokens, int64_t max_len) const;

 private:
  Vocabulary(std::vector<std::string> tokens, VocabularyOptions options);

  struct StringHash {  // lets ids_ be searched with a string_view
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const {
      return std::hash<std::string_view>{}(text);
    }
  };

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>> ids_;
  VocabularyOptions options_;
};

}  // namespace tapegrad::text
