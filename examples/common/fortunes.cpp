#include "examples/common/fortunes.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string_view>

#include "autograd/error.hpp"
#include "examples/common/split.hpp"

namespace tapegrad::text {
namespace {

bool is_fortune_file(const std::filesystem::directory_entry& entry) {
  const std::string name = entry.path().filename().string();
  const auto ends_with = [&](std::string_view end) { return name.ends_with(end); };
  return entry.is_regular_file() && !entry.is_symlink() && !ends_with(".dat") &&
         !ends_with(".u8") && name != "art" && name != "ascii-art";
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("fortune_documents: cannot read {}", path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Appends the documents of one file's bytes.
void add_documents(std::string_view bytes, std::vector<std::string>& documents) {
  constexpr std::string_view kSeparator = "\n%\n";
  for (std::size_t start = 0; start <= bytes.size();) {
    const std::size_t found = bytes.find(kSeparator, start);
    const std::size_t end = found == std::string_view::npos ? bytes.size() : found;
    std::string_view piece = bytes.substr(start, end - start);
    const std::size_t first = piece.find_first_not_of("\n%");
    if (first != std::string_view::npos) {
      piece = piece.substr(first, piece.find_last_not_of("\n%") - first + 1);
      if (piece.find_first_not_of(" \t\n\r\v\f") != std::string_view::npos)
        documents.push_back(std::string(piece) + '\n');
    }
    if (found == std::string_view::npos) break;
    start = found + kSeparator.size();
  }
}

}  // namespace

std::vector<std::string> fortune_documents(const std::filesystem::path& directory) {
  if (!std::filesystem::is_directory(directory))
    fail(
        "fortune_documents: {} is not a directory; fetch the corpus with "
        "bash scripts/fetch_fortunes.sh",
        directory.string());
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(directory))
    if (is_fortune_file(entry)) files.push_back(entry.path());
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) {
    return a.filename().string() < b.filename().string();
  });
  std::vector<std::string> documents;
  for (const auto& file : files) add_documents(read_bytes(file), documents);
  if (documents.empty())
    fail(
        "fortune_documents: no fortune in {} ({} files); fetch the corpus again with "
        "bash scripts/fetch_fortunes.sh",
        directory.string(), files.size());
  return documents;
}

TextSplit split_documents(const std::vector<std::string>& documents) {
  TextSplit split;
  for (const std::string& document : documents) {
    if (fnv1a32(document) % 10 == 0) {
      split.validation += document;
      ++split.validation_documents;
    } else {
      split.train += document;
      ++split.train_documents;
    }
  }
  return split;
}

}  // namespace tapegrad::text
