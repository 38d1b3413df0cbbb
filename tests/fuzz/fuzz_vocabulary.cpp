// libFuzzer target: Vocabulary::decode on any bytes returns a vocabulary or throws
// tapegrad::Error. A vocabulary it returns maps each of its tokens back to the token's id.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "autograd/error.hpp"
#include "examples/common/vocabulary.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using tapegrad::text::Vocabulary;
  try {
    const Vocabulary vocabulary =
        Vocabulary::decode({reinterpret_cast<const char*>(data), size}, "fuzz input");
    for (int64_t id = 0; id < vocabulary.size(); ++id)
      if (vocabulary.id(vocabulary.token(id)) != id) __builtin_trap();
  } catch (const tapegrad::Error&) {
  }
  return 0;
}
