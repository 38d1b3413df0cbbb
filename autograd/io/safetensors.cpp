#include "autograd/io/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <iterator>
#include <limits>
#include <optional>
#include <set>
#include <tuple>
#include <vector>

#include "autograd/io/atomic_file.hpp"

namespace tapegrad {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian: tapegrad copies it as is");

using Json = nlohmann::json;

constexpr std::size_t kHeaderSizeBytes = 8;  // the u64 before the JSON
constexpr uint64_t kMaxHeaderSize = 100'000'000;
constexpr std::size_t kHeaderAlignment = 8;
constexpr int kMaxJsonDepth = 64;  // the format needs 3; deeper only costs memory
const std::string kMetadataKey = "__metadata__";
constexpr std::string_view kInMemory = "<memory>";
constexpr DType kReadableDTypes[] = {kFloat32, kFloat64, kInt64, kInt8, kBool};

std::string_view dtype_code(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return "F32";
    case DType::Float64:
      return "F64";
    case DType::Int64:
      return "I64";
    case DType::Int8:
      return "I8";
    case DType::Bool:
      return "BOOL";
  }
  fail("safetensors: dtype {} has no code", dtype);
}

std::optional<DType> dtype_from_code(std::string_view code) {
  for (DType dtype : kReadableDTypes)
    if (dtype_code(dtype) == code) return dtype;
  return std::nullopt;
}

// ---- writing ----

// The bytes of a contiguous tensor, in memory order.
std::string_view raw_bytes(const Tensor& contiguous) {
  const std::size_t size = element_size(contiguous.dtype());
  return {
      static_cast<const char*>(contiguous.storage()->data()) + contiguous.storage_offset() * size,
      static_cast<std::size_t>(contiguous.numel()) * size};
}

std::string encode(const std::map<std::string, Tensor>& tensors,
                   const std::map<std::string, std::string>& metadata, std::string_view target) {
  Json header = Json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::vector<Tensor> contents;
  uint64_t data_size = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == kMetadataKey)
      fail("safetensors: {}: \"{}\" names the metadata, it cannot name a tensor", target, name);
    if (!tensor.defined()) fail("safetensors: {}: tensor \"{}\" is undefined", target, name);
    const Tensor content = tensor.detach().contiguous();
    const uint64_t bytes = raw_bytes(content).size();
    header[name] = {{"dtype", std::string(dtype_code(content.dtype()))},
                    {"shape", content.shape()},
                    {"data_offsets", Json::array({data_size, data_size + bytes})}};
    data_size += bytes;
    contents.push_back(content);
  }
  std::string header_text;
  try {
    header_text = header.dump();
  } catch (const Json::exception& error) {
    fail("safetensors: {}: a tensor name or metadata string is not valid UTF-8 ({})", target,
         error.what());
  }
  header_text.resize(
      (header_text.size() + kHeaderAlignment - 1) / kHeaderAlignment * kHeaderAlignment, ' ');
  if (header_text.size() > kMaxHeaderSize)
    fail("safetensors: {}: the header would take {} bytes, over the format's limit of {}", target,
         header_text.size(), kMaxHeaderSize);

  std::string file;
  file.reserve(kHeaderSizeBytes + header_text.size() + data_size);
  const uint64_t header_size = header_text.size();
  file.append(reinterpret_cast<const char*>(&header_size), kHeaderSizeBytes);
  file += header_text;
  for (const Tensor& content : contents) file += raw_bytes(content);
  return file;
}

// ---- reading ----

// One header entry, checked against itself and the size of the data buffer.
struct TensorEntry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin;  // data_offsets, relative to the data buffer
  uint64_t end;
};

// A JSON value in an error message: scalars as written, containers by their kind.
std::string describe(const Json& value) {
  if (value.is_array()) return fmt::format("an array of {} elements", value.size());
  if (value.is_object()) return "a JSON object";
  return value.dump();
}

// The header's characters, remembering the last one the JSON parser read: when the parser closes
// the top-level object, that is its '}', so the end of the JSON value is known exactly.
class TrackedChar {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  TrackedChar(const char* at, const char** last_read) : at_(at), last_read_(last_read) {}
  reference operator*() const {
    *last_read_ = at_;
    return *at_;
  }
  TrackedChar& operator++() {
    ++at_;
    return *this;
  }
  TrackedChar operator++(int) {
    TrackedChar before = *this;
    ++at_;
    return before;
  }
  bool operator==(const TrackedChar& other) const { return at_ == other.at_; }

 private:
  const char* at_;
  const char** last_read_;
};

// The header parsed, rejecting duplicate keys (which nlohmann would silently merge), deep
// nesting, any NUL (where nlohmann's parser would stop reading, taking what follows for padding)
// and any byte after the JSON value but the spaces the format pads it with. Errors name the
// byte's offset in the file.
Json parse_header(std::string_view text, std::string_view source) {
  const auto offset_in_file = [](std::size_t index) { return kHeaderSizeBytes + index; };
  if (const std::size_t nul = text.find('\0'); nul != std::string_view::npos)
    fail(
        "safetensors: {}: the header holds a NUL byte at byte offset {} of the file; the header "
        "is UTF-8 JSON, padded at the end with spaces (0x20) only",
        source, offset_in_file(nul));
  const char* last_read = text.data();
  std::optional<std::size_t> value_end;  // one past the top-level object's '}'
  std::vector<std::set<std::string>> keys_of_open_objects;
  const Json::parser_callback_t check_keys_and_depth = [&](int depth, Json::parse_event_t event,
                                                           Json& parsed) {
    using Event = Json::parse_event_t;
    if ((event == Event::object_start || event == Event::array_start) && depth >= kMaxJsonDepth)
      fail("safetensors: {}: the header nests JSON deeper than {} levels", source, kMaxJsonDepth);
    if (event == Event::object_start) keys_of_open_objects.emplace_back();
    if (event == Event::object_end) keys_of_open_objects.pop_back();
    if (event == Event::object_end && depth == 0)
      value_end = static_cast<std::size_t>(last_read - text.data()) + 1;
    if (event == Event::key &&
        !keys_of_open_objects.back().insert(parsed.get<std::string>()).second)
      fail("safetensors: {}: the header has the key \"{}\" twice in one object", source,
           parsed.get<std::string>());
    return true;
  };
  const auto check_padding = [&] {
    if (!value_end) return;
    const std::size_t not_space = text.find_first_not_of(' ', *value_end);
    if (not_space != std::string_view::npos)
      fail(
          "safetensors: {}: the byte 0x{:02X} at byte offset {} of the file follows the header's "
          "JSON value, which may only be padded with spaces (0x20)",
          source, static_cast<unsigned char>(text[not_space]), offset_in_file(not_space));
  };
  const TrackedChar begin(text.data(), &last_read), end(text.data() + text.size(), &last_read);
  Json header;
  try {
    header = Json::parse(begin, end, check_keys_and_depth);
  } catch (const Json::exception& error) {
    check_padding();
    fail("safetensors: {}: the header is not valid JSON: {}", source, error.what());
  }
  if (!header.is_object())
    fail("safetensors: {}: the header is {}, not a JSON object", source, describe(header));
  check_padding();
  return header;
}

std::map<std::string, std::string> parse_metadata(const Json& value, std::string_view source) {
  if (!value.is_object())
    fail("safetensors: {}: \"{}\" is {}, not an object of strings", source, kMetadataKey,
         describe(value));
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string())
      fail("safetensors: {}: \"{}\" maps \"{}\" to {}, not a string", source, kMetadataKey, key,
           describe(item));
    metadata.emplace(key, item.get<std::string>());
  }
  return metadata;
}

const Json& field(const Json& entry, const char* key, const std::string& name,
                  std::string_view source) {
  const auto found = entry.find(key);
  if (found == entry.end()) fail("safetensors: {}: tensor \"{}\" has no \"{}\"", source, name, key);
  return *found;
}

// An element of "shape" or "data_offsets": a JSON integer in [0, limit].
uint64_t non_negative_integer(const Json& value, uint64_t limit, const char* key,
                              const std::string& name, std::string_view source) {
  if (!value.is_number_integer())
    fail("safetensors: {}: tensor \"{}\": \"{}\" holds {}, not an integer", source, name, key,
         describe(value));
  if (!value.is_number_unsigned() && value.get<int64_t>() < 0)
    fail("safetensors: {}: tensor \"{}\": \"{}\" holds the negative number {}", source, name, key,
         value.get<int64_t>());
  const uint64_t integer = value.get<uint64_t>();
  if (integer > limit)
    fail("safetensors: {}: tensor \"{}\": \"{}\" holds {}, more than {}", source, name, key,
         integer, limit);
  return integer;
}

DType parse_dtype(const Json& value, const std::string& name, std::string_view source) {
  if (!value.is_string())
    fail("safetensors: {}: tensor \"{}\": \"dtype\" is {}, not a string", source, name,
         describe(value));
  const std::optional<DType> dtype = dtype_from_code(value.get_ref<const std::string&>());
  if (!dtype)
    fail(
        "safetensors: {}: tensor \"{}\": unsupported dtype {} "
        "(tapegrad reads F32, F64, I64, I8 and BOOL)",
        source, name, value.dump());
  return *dtype;
}

Shape parse_shape(const Json& value, const std::string& name, std::string_view source) {
  if (!value.is_array())
    fail("safetensors: {}: tensor \"{}\": \"shape\" is {}, not an array", source, name,
         describe(value));
  Shape shape;
  for (const Json& size : value)
    shape.push_back(static_cast<int64_t>(
        non_negative_integer(size, std::numeric_limits<int64_t>::max(), "shape", name, source)));
  return shape;
}

TensorEntry parse_entry(const std::string& name, const Json& value, uint64_t data_size,
                        std::string_view source) {
  if (!value.is_object())
    fail("safetensors: {}: tensor \"{}\" is {}, not an object", source, name, describe(value));
  TensorEntry entry{.name = name,
                    .dtype = parse_dtype(field(value, "dtype", name, source), name, source),
                    .shape = parse_shape(field(value, "shape", name, source), name, source),
                    .begin = 0,
                    .end = 0};
  const Json& offsets = field(value, "data_offsets", name, source);
  if (!offsets.is_array() || offsets.size() != 2)
    fail("safetensors: {}: tensor \"{}\": \"data_offsets\" is {}, not [begin, end]", source, name,
         describe(offsets));
  constexpr uint64_t kAnyOffset = std::numeric_limits<uint64_t>::max();
  entry.begin = non_negative_integer(offsets[0], kAnyOffset, "data_offsets", name, source);
  entry.end = non_negative_integer(offsets[1], kAnyOffset, "data_offsets", name, source);
  if (entry.end > data_size)
    fail(
        "safetensors: {}: tensor \"{}\": "
        "data_offsets [{}, {}] go past the end of the data buffer ({} bytes)",
        source, name, entry.begin, entry.end, data_size);
  if (entry.begin > entry.end)
    fail("safetensors: {}: tensor \"{}\": data_offsets [{}, {}] begin after they end", source, name,
         entry.begin, entry.end);
  uint64_t bytes = element_size(entry.dtype);
  for (int64_t size : entry.shape)
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(size), &bytes))
      fail("safetensors: {}: tensor \"{}\": shape {} of {} has more bytes than fit in 64 bits",
           source, name, entry.shape, dtype_code(entry.dtype));
  int64_t extent = 1;  // where contiguous strides reach (sizes of 0 count as 1): must fit too
  for (int64_t size : entry.shape)
    if (__builtin_mul_overflow(extent, std::max<int64_t>(size, 1), &extent))
      fail("safetensors: {}: tensor \"{}\": shape {} has more elements than fit in int64", source,
           name, entry.shape);
  if (bytes != entry.end - entry.begin)
    fail(
        "safetensors: {}: tensor \"{}\": "
        "shape {} of {} takes {} bytes, but data_offsets [{}, {}] hold {}",
        source, name, entry.shape, dtype_code(entry.dtype), bytes, entry.begin, entry.end,
        entry.end - entry.begin);
  return entry;
}

// The format requires the tensors to tile the data buffer: no overlaps, no holes.
void check_layout(const std::vector<TensorEntry>& entries, uint64_t data_size,
                  std::string_view source) {
  std::vector<const TensorEntry*> by_offset;
  for (const TensorEntry& entry : entries) by_offset.push_back(&entry);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorEntry* a, const TensorEntry* b) {
    return std::tie(a->begin, a->end) < std::tie(b->begin, b->end);
  });
  const TensorEntry* previous = nullptr;
  uint64_t covered = 0;
  for (const TensorEntry* entry : by_offset) {
    if (entry->begin < covered)
      fail(
          "safetensors: {}: tensor \"{}\" (bytes [{}, {})) overlaps tensor \"{}\" (bytes [{}, {}))",
          source, entry->name, entry->begin, entry->end, previous->name, previous->begin,
          previous->end);
    if (entry->begin > covered)
      fail(
          "safetensors: {}: bytes [{}, {}) of the data buffer, before tensor \"{}\", "
          "belong to no tensor",
          source, covered, entry->begin, entry->name);
    covered = entry->end;
    previous = entry;
  }
  if (covered != data_size)
    fail("safetensors: {}: bytes [{}, {}) at the end of the data buffer belong to no tensor",
         source, covered, data_size);
}

Tensor make_tensor(const TensorEntry& entry, std::string_view data, std::string_view source) {
  const std::string_view bytes = data.substr(entry.begin, entry.end - entry.begin);
  if (entry.dtype == kBool) {
    const auto not_bool = std::find_if(bytes.begin(), bytes.end(),
                                       [](char c) { return static_cast<unsigned char>(c) > 1; });
    if (not_bool != bytes.end())
      fail("safetensors: {}: tensor \"{}\": BOOL element {} is the byte {}, not 0 or 1", source,
           entry.name, not_bool - bytes.begin(), static_cast<unsigned char>(*not_bool));
  }
  const Tensor tensor = Tensor::empty(entry.shape, entry.dtype);
  std::memcpy(tensor.storage()->data(), bytes.data(), bytes.size());
  return tensor;
}

}  // namespace

std::string encode_safetensors(const std::map<std::string, Tensor>& tensors,
                               const std::map<std::string, std::string>& metadata) {
  return encode(tensors, metadata, kInMemory);
}

void save_safetensors(const std::filesystem::path& path,
                      const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  write_file_atomically(path, encode(tensors, metadata, path.string()));
}

TensorFile decode_safetensors(std::string_view bytes, std::string_view source_name) {
  if (bytes.size() < kHeaderSizeBytes)
    fail("safetensors: {}: the file has {} bytes, too few for the 8-byte header size", source_name,
         bytes.size());
  uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data(), kHeaderSizeBytes);
  // Absurd sizes are what a file of another kind gives (the first 8 bytes of a text file make a
  // number near 10^18).
  if (header_size > kMaxHeaderSize)
    fail(
        "safetensors: {}: not a safetensors file: its first 8 bytes give a header size of {} "
        "bytes, over the format's limit of {}",
        source_name, header_size, kMaxHeaderSize);
  if (header_size > bytes.size() - kHeaderSizeBytes)
    fail(
        "safetensors: {}: not a safetensors file, or one cut short: its first 8 bytes give a "
        "header size of {} bytes, but only {} bytes follow them",
        source_name, header_size, bytes.size() - kHeaderSizeBytes);
  const Json header = parse_header(bytes.substr(kHeaderSizeBytes, header_size), source_name);
  const std::string_view data = bytes.substr(kHeaderSizeBytes + header_size);

  TensorFile file;
  std::vector<TensorEntry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey)
      file.metadata = parse_metadata(value, source_name);
    else
      entries.push_back(parse_entry(key, value, data.size(), source_name));
  }
  check_layout(entries, data.size(), source_name);
  for (const TensorEntry& entry : entries)
    file.tensors.emplace(entry.name, make_tensor(entry, data, source_name));
  return file;
}

TensorFile load_safetensors(const std::filesystem::path& path) {
  return decode_safetensors(read_file(path), path.string());
}

}  // namespace tapegrad
