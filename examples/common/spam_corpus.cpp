#include "examples/common/spam_corpus.hpp"

#include <algorithm>

#include "autograd/error.hpp"

namespace tapegrad::text {

std::vector<CorpusGroup> spamassassin_groups() {
  return {{"easy-ham-1", 0, 2500, false},
          {"easy-ham-2", 0, 1400, false},
          {"hard-ham-1", 0, 250, true},
          {"spam-1", 1, 500, false},
          {"spam-2", 1, 1396, false}};
}

std::vector<Message> list_corpus(const std::filesystem::path& corpus_dir,
                                 const std::vector<CorpusGroup>& groups) {
  std::vector<Message> messages;
  std::vector<LabeledId> pooled;             // the messages in a split...
  std::vector<std::size_t> pooled_messages;  // ...and where they are in `messages`
  for (const CorpusGroup& group : groups) {
    const std::filesystem::path folder = corpus_dir / group.name;
    std::error_code error;
    std::vector<std::filesystem::path> files;
    for (std::filesystem::directory_iterator entry(folder, error), end; !error && entry != end;
         entry.increment(error))
      if (entry->path().extension() == ".txt" && entry->is_regular_file())
        files.push_back(entry->path());
    if (error)
      fail("list_corpus: cannot list {}: {} (fetch the corpus with scripts/fetch_data.sh)",
           folder.string(), error.message());
    if (static_cast<int64_t>(files.size()) != group.count)
      fail("list_corpus: {} holds {} .txt files, expected {} (an incomplete or another corpus?)",
           folder.string(), files.size(), group.count);
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      if (!group.hard) {
        pooled.push_back({file.stem().string(), group.label});
        pooled_messages.push_back(messages.size());
      }
      messages.push_back({file.stem().string(), group.name, group.label, std::nullopt, file});
    }
  }
  const std::vector<Split> splits = assign_splits(pooled);
  for (std::size_t i = 0; i < splits.size(); ++i) messages[pooled_messages[i]].split = splits[i];
  return messages;
}

}  // namespace tapegrad::text
