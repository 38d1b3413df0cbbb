#include "autograd/storage.hpp"

#include <algorithm>
#include <new>

#include "autograd/error.hpp"

namespace tapegrad {

Storage::Storage(std::size_t bytes) : bytes_(bytes) {
  const std::size_t rounded = std::max(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
  data_ = ::operator new(rounded, std::align_val_t{kAlignment}, std::nothrow);
  if (data_ == nullptr) fail("storage: cannot allocate {} bytes", bytes);
}

Storage::~Storage() { ::operator delete(data_, std::align_val_t{kAlignment}); }

}  // namespace tapegrad
