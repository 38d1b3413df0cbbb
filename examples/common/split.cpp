#include "examples/common/split.hpp"

#include <algorithm>
#include <map>
#include <tuple>

namespace tapegrad::text {

std::string_view split_name(Split split) {
  switch (split) {
    case Split::Train:
      return "train";
    case Split::Dev:
      return "dev";
    case Split::Test:
      return "test";
  }
  return "?";
}

uint32_t fnv1a32(std::string_view bytes) {
  uint32_t hash = 0x811C9DC5u;
  for (unsigned char byte : bytes) hash = (hash ^ byte) * 0x01000193u;
  return hash;
}

std::vector<Split> assign_splits(const std::vector<LabeledId>& rows) {
  std::map<int, std::vector<std::size_t>> by_label;
  for (std::size_t i = 0; i < rows.size(); ++i) by_label[rows[i].label].push_back(i);
  std::vector<Split> splits(rows.size(), Split::Train);
  for (auto& [label, members] : by_label) {
    std::sort(members.begin(), members.end(), [&](std::size_t a, std::size_t b) {
      return std::tuple(fnv1a32(rows[a].id), rows[a].id) <
             std::tuple(fnv1a32(rows[b].id), rows[b].id);
    });
    const std::size_t n = members.size(), k = n / 10;
    for (std::size_t rank = 0; rank < n; ++rank)
      splits[members[rank]] = rank < n - 2 * k ? Split::Train
                              : rank < n - k   ? Split::Dev
                                               : Split::Test;
  }
  return splits;
}

}  // namespace tapegrad::text
