// Tensors in safetensors files (https://github.com/huggingface/safetensors), the format PyTorch
// and Hugging Face tools read and write: an 8-byte little-endian header size N, N bytes of JSON
// ({"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
// "__metadata__": {"key": "value"}}) padded with spaces to 8 bytes, then the tensors' raw
// little-endian row-major bytes, every byte belonging to exactly one tensor.
//
// Reads F32, F64, I64, I8 and BOOL. The reader checks everything the format promises (sizes,
// offsets, coverage, JSON types, duplicate keys, no byte after the JSON but spaces, no NUL) and
// turns any violation into an Error naming the file and the tensor or byte offset: it never
// crashes on any input.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "autograd/tensor.hpp"

namespace tapegrad {

struct TensorFile {
  std::map<std::string, Tensor> tensors;        // ordered by name: deterministic files
  std::map<std::string, std::string> metadata;  // the header's "__metadata__"
};

// The file's bytes. Tensors are written in name order, non-contiguous ones through a copy.
std::string encode_safetensors(const std::map<std::string, Tensor>& tensors,
                               const std::map<std::string, std::string>& metadata = {});
// encode_safetensors written to `path` with write_file_atomically.
void save_safetensors(const std::filesystem::path& path,
                      const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// The tensors (each with storage of its own) and metadata of a file's bytes; `source_name` names
// the file in error messages.
TensorFile decode_safetensors(std::string_view bytes, std::string_view source_name);
TensorFile load_safetensors(const std::filesystem::path& path);

}  // namespace tapegrad
