// Storage: one 64-byte aligned block of memory, shared by every tensor handle and view onto it.
//
// Blocks come from a cache of freed ones (storage.cpp): a training step allocates the same sizes
// at every step, so in steady state it neither calls malloc nor faults fresh pages in. Blocks are
// grouped in size classes (eight per power of two, so a block is at most 12.5% larger than asked)
// and a freed block waits in its class until a tensor of that class needs one.
#pragma once

#include <cstddef>
#include <cstdint>

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
  // How many times the values have been changed in place (PyTorch's tensor._version, shared by
  // views as they share the storage): the library's in-place writers count their writes, and
  // backward() compares the count with the one an op saw.
  uint64_t version() const { return version_; }
  void increment_version() { ++version_; }

 private:
  void* data_;
  std::size_t bytes_;
  uint64_t version_ = 0;
};

// The cache of freed storage blocks, shared by all threads.
//
// Caching hides use-after-free from AddressSanitizer (a freed block is reused, not freed), so
// builds with ASan start with caching off; with it turned on there, cached blocks are poisoned and
// touching one is still reported. A miss that would take the cache over its limit first releases
// every cached block.
struct StorageCacheStats {
  std::size_t cached_bytes = 0;  // held in the cache, ready for reuse
  std::size_t cached_blocks = 0;
  std::size_t live_bytes = 0;  // in blocks owned by live Storage
  std::size_t peak_live_bytes = 0;
  uint64_t hits = 0;    // allocations served from the cache
  uint64_t misses = 0;  // allocations that went to the system allocator
};
StorageCacheStats storage_cache_stats();
// Frees every cached block to the system allocator (live storage is untouched).
void release_storage_cache();
// Turns caching on or off (off releases the cache and frees blocks as storage dies).
void set_storage_caching(bool enabled);
bool storage_caching();
// The most bytes the cache holds before it is released on a miss (default 4 GiB).
void set_storage_cache_limit(std::size_t bytes);

}  // namespace tapegrad
