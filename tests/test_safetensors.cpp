// safetensors files and atomic writes: round trips of every dtype, a file written byte by byte
// from the spec, one check per rule the reader enforces, failed writes that keep the old file,
// and a seeded mutation loop (a quick fuzz: decode either succeeds or throws Error).
//
// To check a new reader rule: add a line to "safetensors rejects ..." with a hand-written header
// and the words the Error must contain after the file name.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>

#include "tests/testing.hpp"

using namespace tapegrad;

namespace {

constexpr const char* kBadFile = "bad.safetensors";

// A file as the spec lays it out: the header size as 8 little-endian bytes, the header padded
// with spaces to a multiple of 8, then the data buffer.
std::string spec_file(std::string header, std::string_view data) {
  header.resize((header.size() + 7) / 8 * 8, ' ');
  std::string file;
  for (int byte = 0; byte < 8; ++byte)
    file += static_cast<char>((header.size() >> (8 * byte)) & 0xFF);
  return file + header + std::string(data);
}

// A header's JSON object made of `members` ("key": value texts).
std::string header_of(std::initializer_list<std::string> members) {
  return fmt::format("{{{}}}", fmt::join(members, ", "));
}

// One tensor entry of a header, as JSON text.
std::string entry(std::string_view name, std::string_view dtype, std::string_view shape,
                  std::string_view offsets) {
  return fmt::format(R"("{}": {{"dtype": "{}", "shape": {}, "data_offsets": {}}})", name, dtype,
                     shape, offsets);
}

void check_rejected(const std::string& header, std::string_view data, std::string_view problem) {
  INFO("header: ", header);
  const std::string expected = fmt::format("{}: {}", kBadFile, problem);
  CHECK_THROWS_WITH_AS(decode_safetensors(spec_file(header, data), kBadFile),
                       doctest::Contains(expected.c_str()), Error);
}

// The raw bytes of a contiguous tensor.
std::string_view bytes_of(const Tensor& tensor) {
  REQUIRE(tensor.is_contiguous());
  const std::size_t size = element_size(tensor.dtype());
  return {static_cast<const char*>(tensor.storage()->data()) + tensor.storage_offset() * size,
          static_cast<std::size_t>(tensor.numel()) * size};
}

void check_same(const Tensor& actual, const Tensor& expected) {
  CHECK(actual.dtype() == expected.dtype());
  CHECK(actual.shape() == expected.shape());
  CHECK(bytes_of(actual) == bytes_of(expected.contiguous()));
}

// Limits the size of files this process writes, so that write() fails part way (EFBIG), as it
// would on a full disk. Restores the limit on destruction.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    previous_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    ::signal(SIGXFSZ, previous_handler_);
  }

 private:
  rlimit saved_{};
  sighandler_t previous_handler_;
};

std::map<std::string, Tensor> every_kind_of_tensor() {
  const Tensor grid = arange(12, {.dtype = kFloat64}).reshape({3, 4});
  Generator generator(7);
  return {
      {"f32", tensor({{1.5, -2}, {3.25, 1e-30}})},
      {"f64", tensor({0.1, -1e300, 3}, {.dtype = kFloat64})},
      {"i64", from_vector(std::vector<int64_t>{-1, 0, std::numeric_limits<int64_t>::max(),
                                               std::numeric_limits<int64_t>::min()},
                          {2, 2})},
      {"bool", tensor({{1, 0, 1}, {0, 0, 1}}, {.dtype = kBool})},
      {"i8", tensor({{-128, 127, 0}, {1, -1, 5}}, {.dtype = kInt8})},
      {"scalar", scalar_tensor(2.5)},
      {"empty", zeros({0, 3})},
      {"empty_i64", zeros({2, 0}, {.dtype = kInt64})},
      {"transposed", grid.transpose(0, 1)},
      {"last_row", select(grid, 0, 2)},  // contiguous, from the 9th element of its storage on
      {"strided", testing::strided_input({2, 3})},
      {"requires_grad", randn({2, 2}, {.requires_grad = true}, generator)},
  };
}

}  // namespace

TEST_CASE("safetensors round trip of every dtype, 0-dim, empty and non-contiguous tensors") {
  const std::map<std::string, Tensor> tensors = every_kind_of_tensor();
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"step", "120"}};
  testing::ScratchDirectory directory;
  save_safetensors(directory / "model.safetensors", tensors, metadata);
  const TensorFile file = load_safetensors(directory / "model.safetensors");
  CHECK(file.metadata == metadata);
  REQUIRE(file.tensors.size() == tensors.size());
  for (const auto& entry : tensors) {  // no structured binding: INFO captures it, clang 14 cannot
    const std::string& name = entry.first;
    const Tensor& expected = entry.second;
    INFO("tensor ", name);
    REQUIRE(file.tensors.count(name) == 1);
    const Tensor& loaded = file.tensors.at(name);
    check_same(loaded, expected);
    CHECK_FALSE(loaded.requires_grad());
    CHECK(loaded.storage() != expected.storage());
  }
  CHECK(decode_safetensors(encode_safetensors({}), "empty").tensors.empty());
}

TEST_CASE("safetensors reads and writes I8 (quantized weights) byte for byte") {
  const std::string file =
      spec_file(R"({"q":{"data_offsets":[0,3],"dtype":"I8","shape":[3]}})", "\x80\x7F\xFF");
  const Tensor q = decode_safetensors(file, "int8.safetensors").tensors.at("q");
  CHECK(q.dtype() == kInt8);
  CHECK(q.data<int8_t>()[0] == -128);
  CHECK(q.data<int8_t>()[1] == 127);
  CHECK(q.data<int8_t>()[2] == -1);
  CHECK(encode_safetensors({{"q", q}}) == file);
  CHECK(fmt::format("{}", q) == "tensor([-128,  127,   -1], dtype=int8)");
}

TEST_CASE("safetensors files are deterministic, with a space-padded header") {
  // 1.0f and 2.0f are 0x3F800000 and 0x40000000
  const std::string data("\x00\x00\x80\x3F\x00\x00\x00\x40", 8);
  CHECK(encode_safetensors({{"x", tensor({1, 2})}}) ==
        spec_file(R"({"x":{"data_offsets":[0,8],"dtype":"F32","shape":[2]}})", data));
  CHECK(
      encode_safetensors({{"x", tensor({1, 2})}}, {{"format", "pt"}}) ==
      spec_file(
          R"({"__metadata__":{"format":"pt"},"x":{"data_offsets":[0,8],"dtype":"F32","shape":[2]}})",
          data));
  const std::string file = encode_safetensors(every_kind_of_tensor());
  uint64_t header_size = 0;
  std::memcpy(&header_size, file.data(), 8);
  CHECK(header_size % 8 == 0);
  CHECK(file[8] == '{');
  CHECK(file == encode_safetensors(every_kind_of_tensor()));
  // Names of 1 to 8 bytes give headers of every length modulo 8: each padded to the next multiple
  // of 8, not past it.
  for (std::size_t length = 1; length <= 8; ++length) {
    const std::string name(length, 'x');
    CHECK(encode_safetensors({{name, tensor({1, 2})}}) ==
          spec_file(
              fmt::format(R"({{"{}":{{"data_offsets":[0,8],"dtype":"F32","shape":[2]}}}})", name),
              data));
  }
}

TEST_CASE("safetensors reads a file written byte by byte from the spec") {
  // Another tool's file: keys in no particular order, the data buffer in yet another order,
  // whitespace in the JSON, a 0-dim and an empty tensor, and metadata last.
  const std::string header = header_of(
      {entry("scale", "F32", "[]", "[32, 36]"), entry("weight", "F64", "[2]", "[0, 16]"),
       entry("mask", "BOOL", "[1, 3]", "[36, 39]"), entry("none", "F32", "[0, 2]", "[39, 39]"),
       entry("ids", "I64", "[2]", "[16, 32]"), R"("__metadata__": {"format": "pt"})"});
  const std::string data(
      "\x00\x00\x00\x00\x00\x00\xE0\x3F"  // weight: 0.5
      "\x00\x00\x00\x00\x00\x00\x00\xC0"  //         -2.0
      "\x02\x01\x00\x00\x00\x00\x00\x00"  // ids: 258
      "\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF"  //      -1
      "\x00\x00\x80\x3F"                  // scale: 1.0f
      "\x01\x00\x01",                     // mask: true, false, true
      39);
  const TensorFile file = decode_safetensors(spec_file(header, data), "other_tool.safetensors");
  CHECK(file.metadata == std::map<std::string, std::string>{{"format", "pt"}});
  REQUIRE(file.tensors.size() == 5);
  const Tensor& weight = file.tensors.at("weight");
  CHECK(weight.dtype() == kFloat64);
  testing::check_values(weight, {0.5, -2.0}, 0);
  const Tensor& ids = file.tensors.at("ids");
  CHECK(ids.dtype() == kInt64);
  CHECK(ids.data<int64_t>()[0] == 258);
  CHECK(ids.data<int64_t>()[1] == -1);
  const Tensor& scale = file.tensors.at("scale");
  CHECK(scale.dim() == 0);
  CHECK(scale.item() == 1.0);
  const Tensor& mask = file.tensors.at("mask");
  CHECK(mask.dtype() == kBool);
  CHECK(mask.shape() == Shape{1, 3});
  testing::check_values(mask, {1, 0, 1}, 0);
  CHECK(file.tensors.at("none").shape() == Shape{0, 2});
}

TEST_CASE("safetensors rejects truncated files and bad header sizes") {
  CHECK_THROWS_WITH_AS(decode_safetensors("abc", kBadFile),
                       doctest::Contains("bad.safetensors: the file has 3 bytes"), Error);
  CHECK_THROWS_WITH_AS(decode_safetensors(std::string("\x10\0\0\0\0\0\0\0{}", 10), kBadFile),
                       doctest::Contains("bad.safetensors: not a safetensors file, or one cut "
                                         "short: its first 8 bytes give a header size of 16 "
                                         "bytes, but only 2 bytes follow them"),
                       Error);
  CHECK_THROWS_WITH_AS(decode_safetensors(std::string("\0\0\0\0\0\1\0\0{}", 10), kBadFile),
                       doctest::Contains("bad.safetensors: not a safetensors file: its first 8 "
                                         "bytes give a header size of 1099511627776 bytes, over "
                                         "the format's limit of 100000000"),
                       Error);
  // The limit itself is a size a file may have: this one is only cut short.
  CHECK_THROWS_WITH_AS(decode_safetensors(std::string("\x00\xE1\xF5\x05\0\0\0\0{}", 10), kBadFile),
                       doctest::Contains("cut short: its first 8 bytes give a header size of "
                                         "100000000 bytes, but only 2 bytes follow them"),
                       Error);
  // A text file read as safetensors: "# tapegr" is the header size 8243669176270725155.
  CHECK_THROWS_WITH_AS(decode_safetensors("# tapegrad\nA README, not weights.\n", kBadFile),
                       doctest::Contains("bad.safetensors: not a safetensors file: its first 8 "
                                         "bytes give a header size of 8243669176270725155 bytes"),
                       Error);
  const std::string file = encode_safetensors({{"x", tensor({1, 2})}});
  CHECK_THROWS_WITH_AS(
      decode_safetensors(std::string_view(file).substr(0, file.size() - 1), kBadFile),
      doctest::Contains("bad.safetensors: tensor \"x\": data_offsets [0, 8] go "
                        "past the end of the data buffer (7 bytes)"),
      Error);
  testing::ScratchDirectory directory;
  write_file_atomically(directory / "short.safetensors", "abc");
  const std::string path = (directory / "short.safetensors").string();
  CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains(path.c_str()), Error);
  CHECK_THROWS_WITH_AS(load_safetensors(directory / "missing.safetensors"),
                       doctest::Contains("missing.safetensors: No such file or directory"), Error);
}

TEST_CASE("safetensors rejects malformed headers") {
  const std::string four_bytes(4, '\0');
  const std::string x = entry("x", "F32", "[1]", "[0, 4]");
  check_rejected(R"({"x": )", four_bytes, "the header is not valid JSON");
  check_rejected("", "", "the header is not valid JSON");
  check_rejected("{\"\xFF\": 1}", "", "the header is not valid JSON");
  check_rejected("[1, 2]", "", "the header is an array of 2 elements, not a JSON object");
  check_rejected(std::string(100, '[').append(100, ']'), "",
                 "the header nests JSON deeper than 64 levels");
  // 64 levels are allowed, 65 are not, of objects as of arrays.
  check_rejected(std::string(64, '[').append(64, ']'), "",
                 "the header is an array of 1 elements, not a JSON object");
  check_rejected(std::string(65, '[').append(65, ']'), "",
                 "the header nests JSON deeper than 64 levels");
  const auto objects_deep = [](int levels) {
    std::string json = "1";
    for (int level = 0; level < levels; ++level) json = fmt::format("{{\"a\": {}}}", json);
    return json;
  };
  check_rejected(objects_deep(64), "", "tensor \"a\" has no \"dtype\"");
  check_rejected(objects_deep(65), "", "the header nests JSON deeper than 64 levels");
  check_rejected(header_of({x, x}), four_bytes, "the header has the key \"x\" twice");
  check_rejected(R"({"x": 5})", "", "tensor \"x\" is 5, not an object");
  check_rejected(R"({"x": {"dtype": "F32", "shape": [1]}})", four_bytes,
                 "tensor \"x\" has no \"data_offsets\"");
  check_rejected(R"({"x": {"dtype": 3, "shape": [1], "data_offsets": [0, 4]}})", four_bytes,
                 "tensor \"x\": \"dtype\" is 3, not a string");
  check_rejected(header_of({entry("x", "F16", "[2]", "[0, 4]")}), four_bytes,
                 "tensor \"x\": unsupported dtype \"F16\"");
  check_rejected(header_of({entry("x", "BF16", "[2]", "[0, 4]")}), four_bytes,
                 "tensor \"x\": unsupported dtype \"BF16\"");
  check_rejected(R"({"x": {"dtype": "F32", "shape": 1, "data_offsets": [0, 4]}})", four_bytes,
                 "tensor \"x\": \"shape\" is 1, not an array");
  check_rejected(R"({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", four_bytes,
                 "tensor \"x\": \"data_offsets\" is an array of 1 elements, not [begin, end]");
  check_rejected(R"({"__metadata__": {"epoch": 3}})", "",
                 "\"__metadata__\" maps \"epoch\" to 3, not a string");
  check_rejected(R"({"__metadata__": ["pt"]})", "",
                 "\"__metadata__\" is an array of 1 elements, not an object of strings");
}

TEST_CASE("safetensors refuses a NUL in the header and any byte but spaces after its JSON") {
  const std::string x = entry("x", "F32", "[1]", "[0, 4]");
  const std::string four_bytes(4, '\0');
  // nlohmann's parser stops at a NUL: without the check, this header loaded.
  check_rejected(std::string("{}\0{\"y\": this is not json", 25), "",
                 "the header holds a NUL byte at byte offset 10 of the file");
  check_rejected(std::string("{\"x\"\0: 1}", 9), "",
                 "the header holds a NUL byte at byte offset 12 of the file");
  check_rejected(header_of({x}) + " x", four_bytes,
                 "the byte 0x78 at byte offset 70 of the file follows the header's JSON value");
  check_rejected(header_of({x}) + "\n", four_bytes, "the byte 0x0A at byte offset 69 of the file");
  check_rejected(header_of({x}) + "  \t", four_bytes,
                 "the byte 0x09 at byte offset 71 of the file");
  check_rejected(R"({} {"y": 1, "y": 2})", "", "the byte 0x7B at byte offset 11 of the file");
  // Spaces are the padding the format allows, however many.
  CHECK(decode_safetensors(spec_file(header_of({x}) + std::string(21, ' '), four_bytes), kBadFile)
            .tensors.contains("x"));
}

TEST_CASE("safetensors rejects bad shapes and offsets") {
  const std::string four_bytes(4, '\0');
  check_rejected(header_of({entry("x", "F32", "[-1]", "[0, 4]")}), four_bytes,
                 "tensor \"x\": \"shape\" holds the negative number -1");
  check_rejected(header_of({entry("x", "F32", "[1.5]", "[0, 4]")}), four_bytes,
                 "tensor \"x\": \"shape\" holds 1.5, not an integer");
  check_rejected(header_of({entry("x", "F32", "[\"1\"]", "[0, 4]")}), four_bytes,
                 "tensor \"x\": \"shape\" holds \"1\", not an integer");
  check_rejected(header_of({entry("x", "F32", "[9223372036854775808]", "[0, 4]")}), four_bytes,
                 "tensor \"x\": \"shape\" holds 9223372036854775808, more than");
  check_rejected(header_of({entry("x", "F32", "[4611686018427387904, 4]", "[0, 4]")}), four_bytes,
                 "tensor \"x\": shape [4611686018427387904, 4] of F32 has more bytes than fit");
  // Found by tests/fuzz: an empty tensor whose other sizes multiply past int64 overflowed its
  // contiguous strides (signed overflow, undefined behaviour).
  check_rejected(
      header_of({entry("x", "F32", "[0, 4294967296, 4294967296]", "[0, 0]")}), "",
      "tensor \"x\": shape [0, 4294967296, 4294967296] has more elements than fit in int64");
  check_rejected(header_of({entry("x", "F32", "[2]", "[0, 4]")}), four_bytes,
                 "tensor \"x\": shape [2] of F32 takes 8 bytes, but data_offsets [0, 4] hold 4");
  check_rejected(header_of({entry("x", "F32", "[2]", "[4, 8]")}), std::string(8, '\0'),
                 "tensor \"x\": shape [2] of F32 takes 8 bytes, but data_offsets [4, 8] hold 4");
  // The largest size a shape may hold: read, then found not to match its 0 bytes.
  check_rejected(header_of({entry("x", "BOOL", "[9223372036854775807]", "[0, 0]")}), "",
                 "tensor \"x\": shape [9223372036854775807] of BOOL takes 9223372036854775807 "
                 "bytes, but data_offsets [0, 0] hold 0");
  check_rejected(header_of({entry("x", "F32", "[1]", "[0, -4]")}), four_bytes,
                 "tensor \"x\": \"data_offsets\" holds the negative number -4");
  check_rejected(header_of({entry("x", "F32", "[1]", "[0, 8]")}), four_bytes,
                 "tensor \"x\": data_offsets [0, 8] go past the end of the data buffer (4 bytes)");
  check_rejected(header_of({entry("x", "F32", "[0]", "[4, 0]")}), four_bytes,
                 "tensor \"x\": data_offsets [4, 0] begin after they end");
  check_rejected(
      header_of({entry("a", "F32", "[1]", "[0, 4]"), entry("b", "BOOL", "[4]", "[2, 6]")}),
      std::string(6, '\0'), "tensor \"b\" (bytes [2, 6)) overlaps tensor \"a\"");
  check_rejected(
      header_of({entry("a", "F32", "[1]", "[0, 4]"), entry("b", "BOOL", "[2]", "[6, 8]")}),
      std::string(8, '\0'),
      "bytes [4, 6) of the data buffer, before tensor \"b\", belong to no tensor");
  check_rejected(header_of({entry("a", "F32", "[1]", "[0, 4]")}), std::string(6, '\0'),
                 "bytes [4, 6) at the end of the data buffer belong to no tensor");
  check_rejected(header_of({entry("m", "BOOL", "[3]", "[0, 3]")}), std::string("\x01\x00\x02", 3),
                 "tensor \"m\": BOOL element 2 is the byte 2, not 0 or 1");
}

TEST_CASE("safetensors refuses to write what it cannot represent") {
  CHECK_THROWS_WITH_AS(encode_safetensors({{"x", Tensor()}}),
                       doctest::Contains("tensor \"x\" is undefined"), Error);
  CHECK_THROWS_WITH_AS(encode_safetensors({{"__metadata__", tensor({1})}}),
                       doctest::Contains("\"__metadata__\" names the metadata"), Error);
  CHECK_THROWS_WITH_AS(encode_safetensors({{"\xFF", tensor({1})}}),
                       doctest::Contains("not valid UTF-8"), Error);
  testing::ScratchDirectory directory;
  CHECK_THROWS_WITH_AS(save_safetensors(directory / "x.safetensors", {{"x", Tensor()}}),
                       doctest::Contains("x.safetensors: tensor \"x\" is undefined"), Error);
  CHECK(directory.names().empty());
}

TEST_CASE("safetensors saves replace the file and leave no temporary files") {
  testing::ScratchDirectory directory;
  const std::filesystem::path path = directory / "model.safetensors";
  save_safetensors(path, {{"x", tensor({1, 2})}});
  save_safetensors(path, {{"y", tensor({3, 4, 5})}});
  const TensorFile file = load_safetensors(path);
  REQUIRE(file.tensors.count("y") == 1);
  CHECK(file.tensors.count("x") == 0);
  testing::check_values(file.tensors.at("y"), {3, 4, 5}, 0);
  CHECK(directory.names() == std::vector<std::string>{"model.safetensors"});
  write_file_atomically(path, "");
  CHECK(read_file(path).empty());
}

TEST_CASE("safetensors failed saves leave the old file intact and no temporary files") {
  testing::ScratchDirectory directory;
  const std::filesystem::path path = directory / "model.safetensors";
  save_safetensors(path, {{"x", tensor({1, 2})}});
  const std::string old_content = read_file(path);

  SUBCASE("the write fails part way, as on a full disk") {
    const std::map<std::string, Tensor> big = {{"x", zeros({100000})}};
    {
      const FileSizeLimit limit(4096);
      CHECK_THROWS_WITH_AS(
          save_safetensors(path, big),
          doctest::Contains("model.safetensors: cannot write to the temporary file"), Error);
    }
    CHECK(read_file(path) == old_content);
  }
  SUBCASE("the target's directory does not exist") {
    CHECK_THROWS_WITH_AS(write_file_atomically(directory / "missing" / "model.safetensors", "new"),
                         doctest::Contains("missing/model.safetensors: cannot create the temporary "
                                           "file"),
                         Error);
    CHECK_THROWS_WITH_AS(write_file_atomically(directory / "missing" / "model.safetensors", "new"),
                         doctest::Contains("No such file or directory"), Error);
  }
  SUBCASE("the target is a directory: the rename fails") {
    std::filesystem::create_directory(directory / "folder.safetensors");
    CHECK_THROWS_WITH_AS(write_file_atomically(directory / "folder.safetensors", "new"),
                         doctest::Contains("folder.safetensors: cannot rename the temporary file"),
                         Error);
    std::filesystem::remove(directory / "folder.safetensors");
  }
  SUBCASE("the path names no file") {
    CHECK_THROWS_WITH_AS(write_file_atomically(directory / "", "new"),
                         doctest::Contains("the path names no file"), Error);
  }
  CHECK(read_file(path) == old_content);
  CHECK(directory.names() == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("safetensors decode survives 2,000 seeded mutations of a valid file") {
  const std::string valid =
      encode_safetensors({{"bool", tensor({1, 0, 1}, {.dtype = kBool})},
                          {"f32", tensor({{1, 2}, {3, 4}})},
                          {"i64", from_vector(std::vector<int64_t>{7, -7}, {2})},
                          {"scalar", scalar_tensor(1, {.dtype = kFloat64})}},
                         {{"format", "pt"}});
  uint64_t header_size = 0;
  std::memcpy(&header_size, valid.data(), 8);
  const std::string header = valid.substr(8, header_size);
  const std::string data = valid.substr(8 + header_size);

  constexpr std::string_view kJsonCharacters = "{}[]\",:-0123456789e.";
  std::mt19937_64 random(2024);
  const auto below = [&](uint64_t bound) {
    return std::uniform_int_distribution<uint64_t>(0, bound - 1)(random);
  };
  // One to three random edits: a byte set, a bit flipped, a cut, a JSON character inserted, a
  // byte erased.
  const auto mutate = [&](std::string bytes) {
    for (uint64_t edits = below(3) + 1; edits > 0 && !bytes.empty(); --edits) {
      switch (below(5)) {
        case 0:
          bytes[below(bytes.size())] = static_cast<char>(below(256));
          break;
        case 1:
          bytes[below(bytes.size())] ^= static_cast<char>(1 << below(8));
          break;
        case 2:
          bytes.resize(below(bytes.size()));
          break;
        case 3:
          bytes.insert(below(bytes.size()), 1, kJsonCharacters[below(kJsonCharacters.size())]);
          break;
        case 4:
          bytes.erase(below(bytes.size()), 1);
          break;
      }
    }
    return bytes;
  };
  int decoded = 0;
  int rejected = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    // Half the trials edit the whole file; half edit the header's JSON and frame it again with
    // the right size, to reach the checks past the header size.
    const std::string bytes = trial % 2 == 0 ? mutate(valid) : spec_file(mutate(header), data);
    try {
      decode_safetensors(bytes, "mutated.safetensors");
      ++decoded;
    } catch (const Error&) {
      ++rejected;
    }
  }
  CHECK(decoded + rejected == 2000);
  CHECK(decoded > 0);
  CHECK(rejected > 0);
}
