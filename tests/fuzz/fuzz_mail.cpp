// libFuzzer target: parse_mail accepts any bytes and never throws; the subject and body it gives
// are valid UTF-8 (sanitize_utf8 leaves them unchanged).
#include <cstddef>
#include <cstdint>

#include "examples/common/charset.hpp"
#include "examples/common/mail.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace tapegrad::text;
  const Mail mail = parse_mail({reinterpret_cast<const char*>(data), size});
  if (sanitize_utf8(mail.subject) != mail.subject || sanitize_utf8(mail.body) != mail.body)
    __builtin_trap();
  return 0;
}
