#include "examples/common/vocabulary.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <utility>

#include "autograd/error.hpp"
#include "autograd/io/atomic_file.hpp"

namespace tapegrad::text {
namespace {

constexpr std::string_view kPadToken = "<pad>";
constexpr std::string_view kUnkToken = "<unk>";

void check_options(const VocabularyOptions& options, std::string_view where) {
  if (options.min_count < 1) fail("{}: min_count must be >= 1, got {}", where, options.min_count);
  if (options.max_size && *options.max_size < 2)
    fail("{}: max_size must be >= 2 (<pad> and <unk>), got {}", where, *options.max_size);
}

// object[key]; an Error naming `where` if there is no such key.
const nlohmann::json& require_key(const nlohmann::json& object, const char* key,
                                  std::string_view where) {
  const auto found = object.find(key);
  if (found == object.end()) fail("{}: no \"{}\" key", where, key);
  return *found;
}

}  // namespace

Vocabulary::Vocabulary(std::vector<std::string> tokens, VocabularyOptions options)
    : tokens_(std::move(tokens)), options_(options) {
  for (std::size_t i = 0; i < tokens_.size(); ++i)
    ids_.emplace(tokens_[i], static_cast<int64_t>(i));
}

Vocabulary Vocabulary::build(const std::vector<std::vector<std::string>>& documents,
                             VocabularyOptions options) {
  check_options(options, "Vocabulary::build");
  std::map<std::string_view, int64_t> counts;
  for (const auto& document : documents)
    for (const auto& token : document)
      if (token != kPadToken && token != kUnkToken) ++counts[token];
  std::vector<std::pair<std::string_view, int64_t>> kept;
  for (const auto& [token, count] : counts)
    if (count >= options.min_count) kept.emplace_back(token, count);
  // counts is in token order, so a stable sort by count alone breaks ties by token.
  std::stable_sort(kept.begin(), kept.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  const std::size_t room =
      options.max_size ? static_cast<std::size_t>(*options.max_size) - 2 : kept.size();
  std::vector<std::string> tokens{std::string(kPadToken), std::string(kUnkToken)};
  for (std::size_t i = 0; i < std::min(room, kept.size()); ++i) tokens.emplace_back(kept[i].first);
  return Vocabulary(std::move(tokens), options);
}

Vocabulary Vocabulary::decode(std::string_view json_text, std::string_view source) {
  const std::string where = fmt::format("Vocabulary::load: {}", source);
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& error) {
    fail("{}: not valid JSON ({})", where, error.what());
  }
  if (!document.is_object())
    fail("{}: expected a JSON object, got {}", where, document.type_name());

  VocabularyOptions options;
  const nlohmann::json& min_count = require_key(document, "min_count", where);
  if (!min_count.is_number_integer())
    fail("{}: \"min_count\" must be an integer, got {}", where, min_count.type_name());
  options.min_count = min_count.get<int64_t>();
  const nlohmann::json& max_size = require_key(document, "max_size", where);
  if (max_size.is_number_integer())
    options.max_size = max_size.get<int64_t>();
  else if (!max_size.is_null())
    fail("{}: \"max_size\" must be an integer or null, got {}", where, max_size.type_name());
  check_options(options, where);

  const nlohmann::json& entries = require_key(document, "tokens", where);
  if (!entries.is_array())
    fail("{}: \"tokens\" must be an array, got {}", where, entries.type_name());
  std::vector<std::string> tokens;
  std::unordered_map<std::string, std::size_t> seen;
  for (const nlohmann::json& entry : entries) {
    const std::size_t i = tokens.size();
    if (!entry.is_string())
      fail("{}: tokens[{}] must be a string, got {}", where, i, entry.type_name());
    tokens.push_back(entry.get<std::string>());
    if (tokens[i].empty()) fail("{}: tokens[{}] is empty", where, i);
    const auto [first, inserted] = seen.emplace(tokens[i], i);
    if (!inserted)
      fail("{}: tokens[{}] \"{}\" repeats tokens[{}]", where, i, tokens[i], first->second);
  }
  if (tokens.size() < 2 || tokens[kPad] != kPadToken || tokens[kUnk] != kUnkToken)
    fail("{}: tokens must start with \"{}\", \"{}\"", where, kPadToken, kUnkToken);
  if (options.max_size && static_cast<int64_t>(tokens.size()) > *options.max_size)
    fail("{}: {} tokens, more than max_size {}", where, tokens.size(), *options.max_size);
  return Vocabulary(std::move(tokens), options);
}

Vocabulary Vocabulary::load(const std::filesystem::path& path) {
  return decode(read_file(path), path.string());
}

void Vocabulary::save(const std::filesystem::path& path) const {
  const nlohmann::json document = {
      {"tokens", tokens_},
      {"min_count", options_.min_count},
      {"max_size",
       options_.max_size ? nlohmann::json(*options_.max_size) : nlohmann::json(nullptr)}};
  std::string bytes;
  try {
    bytes = document.dump(1);
  } catch (const nlohmann::json::exception& error) {
    fail("Vocabulary::save: {}: a token is not valid UTF-8 ({})", path.string(), error.what());
  }
  write_file_atomically(path, bytes + "\n");
}

int64_t Vocabulary::id(std::string_view token) const {
  const auto found = ids_.find(token);
  return found == ids_.end() ? kUnk : found->second;
}

const std::string& Vocabulary::token(int64_t id) const {
  if (id < 0 || id >= size()) fail("Vocabulary::token: id {} is not in [0, {})", id, size());
  return tokens_[static_cast<std::size_t>(id)];
}

std::vector<int64_t> Vocabulary::encode(const std::vector<std::string>& tokens,
                                        int64_t max_len) const {
  if (max_len < 1) fail("Vocabulary::encode: max_len must be >= 1, got {}", max_len);
  const std::size_t length = std::min(tokens.size(), static_cast<std::size_t>(max_len));
  std::vector<int64_t> ids(length);
  for (std::size_t i = 0; i < length; ++i) ids[i] = id(tokens[i]);
  return ids;
}

}  // namespace tapegrad::text
