// Storage: one 64-byte aligned block of memory, shared by every tensor handle and view onto it.
#pragma once

#include <cstddef>
#include <memory>

namespace tapegrad {

class Storage {
 public:
  static constexpr std::size_t kAlignment = 64;

  // Uninitialised memory for `bytes` bytes (at least one cache line, so data() is never null).
  explicit Storage(std::size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }

 private:
  void* data_;
  std::size_t bytes_;
};

}  // namespace tapegrad
