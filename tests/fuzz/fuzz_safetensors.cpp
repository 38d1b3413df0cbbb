// libFuzzer target: decode_safetensors on any bytes returns a TensorFile or throws
// tapegrad::Error. What it returns must survive a round trip: encoded again and decoded, it gives
// the same tensors, bytes for bytes, and the same metadata.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "autograd/error.hpp"
#include "autograd/io/safetensors.hpp"

namespace {

bool same_contents(const tapegrad::Tensor& a, const tapegrad::Tensor& b) {
  const std::size_t bytes = static_cast<std::size_t>(a.numel()) * tapegrad::element_size(a.dtype());
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (bytes == 0 || std::memcmp(a.storage()->data(), b.storage()->data(), bytes) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  tapegrad::TensorFile file;
  try {
    file = tapegrad::decode_safetensors({reinterpret_cast<const char*>(data), size}, "fuzz input");
  } catch (const tapegrad::Error&) {
    return 0;
  }
  const tapegrad::TensorFile again = tapegrad::decode_safetensors(
      tapegrad::encode_safetensors(file.tensors, file.metadata), "round trip");
  if (again.metadata != file.metadata || again.tensors.size() != file.tensors.size())
    __builtin_trap();
  for (const auto& [name, tensor] : file.tensors)
    if (!same_contents(tensor, again.tensors.at(name))) __builtin_trap();
  return 0;
}
