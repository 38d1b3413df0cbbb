// The loader's split of the SpamAssassin corpus matches tests/data/spamassassin-splits.tsv row for
// row: that table (a verbatim copy of the project's shared/data one) fixes the split for every
// result in this project.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "examples/common/split.hpp"

using namespace tapegrad::text;

TEST_CASE("fnv1a32 of known strings") {
  CHECK(fnv1a32("") == 0x811C9DC5u);
  CHECK(fnv1a32("a") == 0xE40C292Cu);
  CHECK(fnv1a32("foobar") == 0xBF9CF968u);
}

TEST_CASE("the split matches the shared table row for row") {
  std::ifstream table(TAPEGRAD_SPLITS_TSV);
  REQUIRE_MESSAGE(table, "cannot read " TAPEGRAD_SPLITS_TSV);
  std::string line;
  std::getline(table, line);
  CHECK(line == "id\tgroup\tlabel\tfnv1a32\tsplit");
  std::vector<LabeledId> rows;
  std::vector<std::string> keys, expected;
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string id, group, label, key, split;
    std::getline(fields, id, '\t');
    std::getline(fields, group, '\t');
    std::getline(fields, label, '\t');
    std::getline(fields, key, '\t');
    std::getline(fields, split, '\t');
    if (group == "hard-ham-1") {  // never trained on: evaluated apart
      CHECK(split == "hard");
      continue;
    }
    rows.push_back({id, std::stoi(label)});
    keys.push_back(key);
    expected.push_back(split);
  }
  REQUIRE(rows.size() == 5796);
  const std::vector<Split> splits = assign_splits(rows);
  int counts[3] = {0, 0, 0}, test_spam = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    INFO("row ", i, ": ", rows[i].id);
    CHECK(fmt::format("{:08x}", fnv1a32(rows[i].id)) == keys[i]);
    CHECK(split_name(splits[i]) == expected[i]);
    ++counts[static_cast<int>(splits[i])];
    test_spam += splits[i] == Split::Test && rows[i].label == 1;
  }
  CHECK(counts[0] == 4638);
  CHECK(counts[1] == 579);
  CHECK(counts[2] == 579);
  CHECK(test_spam == 189);
}
