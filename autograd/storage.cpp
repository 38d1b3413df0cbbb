#include "autograd/storage.hpp"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "autograd/error.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define TAPEGRAD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TAPEGRAD_ASAN 1
#endif
#endif

#ifdef TAPEGRAD_ASAN
#include <sanitizer/asan_interface.h>
#define TAPEGRAD_POISON(block, bytes) ASAN_POISON_MEMORY_REGION(block, bytes)
#define TAPEGRAD_UNPOISON(block, bytes) ASAN_UNPOISON_MEMORY_REGION(block, bytes)
#else
#define TAPEGRAD_POISON(block, bytes) ((void)(block), (void)(bytes))
#define TAPEGRAD_UNPOISON(block, bytes) ((void)(block), (void)(bytes))
#endif

namespace tapegrad {
namespace {

constexpr std::size_t kLineBytes = Storage::kAlignment;

// The size class of a request: whole cache lines up to 8 lines, then eight classes per power of
// two (a class is at most 12.5% above the request, and a multiple of the line).
std::size_t size_class(std::size_t bytes) {
  const std::size_t lines = std::max<std::size_t>(1, (bytes + kLineBytes - 1) / kLineBytes);
  if (lines <= 8) return lines * kLineBytes;
  const std::size_t step = std::bit_floor(lines - 1) / 8;
  return (lines + step - 1) / step * step * kLineBytes;
}

// Caching starts on, except under AddressSanitizer; TAPEGRAD_STORAGE_CACHE=0 or 1 overrides.
bool caching_by_default() {
  if (const char* setting = std::getenv("TAPEGRAD_STORAGE_CACHE"))
    return std::string_view(setting) != "0";
#ifdef TAPEGRAD_ASAN
  return false;
#else
  return true;
#endif
}

void* system_allocate(std::size_t bytes) {
  return ::operator new (bytes, std::align_val_t{kLineBytes}, std::nothrow);
}
void system_free(void* block) { ::operator delete (block, std::align_val_t{kLineBytes}); }

class StorageCache {
 public:
  void* allocate(std::size_t bytes) {
    const std::size_t size = size_class(bytes);
    {
      const std::lock_guard lock(mutex_);
      count_live(size);
      if (enabled_) {
        std::vector<void*>& blocks = free_[size];
        if (!blocks.empty()) {
          void* block = blocks.back();
          blocks.pop_back();
          stats_.cached_bytes -= size;
          --stats_.cached_blocks;
          ++stats_.hits;
          TAPEGRAD_UNPOISON(block, size);
          return block;
        }
        ++stats_.misses;
        if (stats_.cached_bytes + size > limit_) release_locked();
      }
    }
    void* block = system_allocate(size);
    if (block == nullptr) {
      release_storage_cache();  // the cache may hold enough memory for this one
      block = system_allocate(size);
    }
    if (block == nullptr) {
      const std::lock_guard lock(mutex_);
      stats_.live_bytes -= size;
      fail("storage: cannot allocate {} bytes", bytes);
    }
    return block;
  }

  void free(void* block, std::size_t bytes) {
    const std::size_t size = size_class(bytes);
    {
      const std::lock_guard lock(mutex_);
      stats_.live_bytes -= size;
      if (enabled_) {
        free_[size].push_back(block);
        stats_.cached_bytes += size;
        ++stats_.cached_blocks;
        TAPEGRAD_POISON(block, size);
        return;
      }
    }
    system_free(block);
  }

  void release() {
    const std::lock_guard lock(mutex_);
    release_locked();
  }

  void set_enabled(bool enabled) {
    const std::lock_guard lock(mutex_);
    enabled_ = enabled;
    if (!enabled) release_locked();
  }

  bool enabled() {
    const std::lock_guard lock(mutex_);
    return enabled_;
  }

  void set_limit(std::size_t bytes) {
    const std::lock_guard lock(mutex_);
    limit_ = bytes;
  }

  StorageCacheStats stats() {
    const std::lock_guard lock(mutex_);
    return stats_;
  }

 private:
  void count_live(std::size_t size) {
    stats_.live_bytes += size;
    stats_.peak_live_bytes = std::max(stats_.peak_live_bytes, stats_.live_bytes);
  }

  void release_locked() {
    for (auto& [size, blocks] : free_) {
      for (void* block : blocks) {
        TAPEGRAD_UNPOISON(block, size);
        system_free(block);
      }
    }
    free_.clear();
    stats_.cached_bytes = 0;
    stats_.cached_blocks = 0;
  }

  std::mutex mutex_;
  bool enabled_ = caching_by_default();
  std::size_t limit_ = std::size_t{4} << 30;
  std::unordered_map<std::size_t, std::vector<void*>> free_;  // by size class
  StorageCacheStats stats_;
};

// Never destroyed: Storage held by static tensors may die after any other static object.
StorageCache& cache() {
  static StorageCache* const instance = new StorageCache;
  return *instance;
}

}  // namespace

Storage::Storage(std::size_t bytes) : data_(cache().allocate(bytes)), bytes_(bytes) {}

Storage::~Storage() { cache().free(data_, bytes_); }

StorageCacheStats storage_cache_stats() { return cache().stats(); }
void release_storage_cache() { cache().release(); }
void set_storage_caching(bool enabled) { cache().set_enabled(enabled); }
bool storage_caching() { return cache().enabled(); }
void set_storage_cache_limit(std::size_t bytes) { cache().set_limit(bytes); }

}  // namespace tapegrad
