// The fixed train/dev/test split of the SpamAssassin corpus, so that every result is comparable:
// key(id) = FNV-1a 32-bit over the id's bytes; within each label, rows sorted by (key, id); with
// n rows and k = n / 10, ranks [0, n-2k) train, [n-2k, n-k) dev, [n-k, n) test.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tapegrad::text {

enum class Split { Train, Dev, Test };

std::string_view split_name(Split split);

// FNV-1a, 32 bits: h = 0x811C9DC5; for each byte h = (h ^ b) * 0x01000193 mod 2^32.
uint32_t fnv1a32(std::string_view bytes);

struct LabeledId {
  std::string id;
  int label;
};

// The split of each row, in the order of `rows`.
std::vector<Split> assign_splits(const std::vector<LabeledId>& rows);

}  // namespace tapegrad::text
