// The fortunes corpus reader: documents cut from a directory made by hand, and the split.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "autograd/error.hpp"
#include "examples/common/fortunes.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;
using namespace tapegrad::text;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace

TEST_CASE("fortunes: documents from the files in name order, pieces stripped, empty ones dropped") {
  const testing::ScratchDirectory scratch;
  const fs::path dir = scratch / "fortunes";
  fs::create_directories(dir / "sub");
  write(dir / "b", "gamma\n%\n%\n  \t\n%\n\nkappa\n%%\n%\n");
  write(dir / "a", "%\nalpha\n%\nA line\n  with a % inside\n");
  for (const char* ignored : {"a.dat", "b.u8", "art", "ascii-art", "sub/c"})
    write(dir / ignored, "ignored\n%\n");
  const std::vector<std::string> documents = fortune_documents(dir);
  CHECK(documents ==
        std::vector<std::string>{"alpha\n", "A line\n  with a % inside\n", "gamma\n", "kappa\n"});
  // FNV-1a 32 of "gamma\n" and of "kappa\n" is 0 mod 10 (computed apart): validation.
  const TextSplit split = split_documents(documents);
  CHECK(split.validation == "gamma\nkappa\n");
  CHECK(split.train == "alpha\nA line\n  with a % inside\n");
  CHECK(split.validation_documents == 2);
  CHECK(split.train_documents == 2);

  write(dir / "a", "%\n\n%\n");
  write(dir / "b", "");
  CHECK_THROWS_WITH_AS(fortune_documents(dir), doctest::Contains("no fortune in"), Error);
  fs::remove_all(dir);
  CHECK_THROWS_WITH_AS(fortune_documents(dir),
                       doctest::Contains("fetch the corpus with bash scripts/fetch_fortunes.sh"),
                       Error);
}
