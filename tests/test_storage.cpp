// The storage cache: freed blocks are reused by size class, released on demand, over its limit or
// when caching is turned off, and safe to use from several threads.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "autograd/autograd.hpp"

using namespace tapegrad;

namespace {

// Caching on (and the cache empty) for the life of the guard; the previous setting after.
class CachingOn {
 public:
  CachingOn() : previous_(storage_caching()) {
    set_storage_caching(true);
    release_storage_cache();
  }
  ~CachingOn() {
    release_storage_cache();
    set_storage_caching(previous_);
  }
  CachingOn(const CachingOn&) = delete;
  CachingOn& operator=(const CachingOn&) = delete;

 private:
  bool previous_;
};

const void* address_of(const Tensor& t) { return t.storage()->data(); }

}  // namespace

TEST_CASE("storage: a freed block serves the next tensor of its size class") {
  const CachingOn caching;
  const void* first = nullptr;
  {
    const Tensor t = Tensor::empty({1000});
    first = address_of(t);
  }
  const StorageCacheStats after_free = storage_cache_stats();
  CHECK(after_free.cached_blocks == 1);
  CHECK(after_free.cached_bytes >= 4000);
  const Tensor again = Tensor::empty({1001});  // 4004 bytes: the same class as 4000
  CHECK(address_of(again) == first);
  CHECK(storage_cache_stats().hits == after_free.hits + 1);
  CHECK(storage_cache_stats().cached_blocks == 0);
  CHECK(storage_cache_stats().cached_bytes == 0);
}

TEST_CASE("storage: blocks are 64-byte aligned and at most 12.5% over the request") {
  const CachingOn caching;
  for (const int64_t count : {1, 15, 16, 17, 127, 1000, 4097, 100'003, 1 << 20}) {
    CAPTURE(count);
    const std::size_t live_before = storage_cache_stats().live_bytes;
    const Tensor t = Tensor::empty({count});
    const std::size_t block = storage_cache_stats().live_bytes - live_before;
    const std::size_t asked = static_cast<std::size_t>(count) * 4;
    CHECK(reinterpret_cast<uintptr_t>(address_of(t)) % Storage::kAlignment == 0);
    CHECK(block >= asked);
    CHECK(block <= std::max<std::size_t>(asked + asked / 8, 64) + 64);
  }
  // Whole lines up to 8 lines (512 bytes), then steps of 1/8 of the power of two below
  for (const auto& [count, block] : {std::pair<int64_t, std::size_t>{1, 64},
                                     {16, 64},
                                     {17, 128},
                                     {128, 512},
                                     {129, 576},
                                     {240, 960},
                                     {1000, 4096}}) {
    CAPTURE(count);
    const std::size_t live_before = storage_cache_stats().live_bytes;
    const Tensor t = Tensor::empty({count});
    CHECK(storage_cache_stats().live_bytes - live_before == block);
  }
}

TEST_CASE("storage: releasing the cache, or turning caching off, frees the cached blocks") {
  const CachingOn caching;
  { const Tensor t = zeros({4096}); }
  CHECK(storage_cache_stats().cached_blocks == 1);
  release_storage_cache();
  CHECK(storage_cache_stats().cached_blocks == 0);
  CHECK(storage_cache_stats().cached_bytes == 0);
  { const Tensor t = zeros({4096}); }
  set_storage_caching(false);
  CHECK(storage_cache_stats().cached_blocks == 0);
  { const Tensor t = zeros({4096}); }
  CHECK(storage_cache_stats().cached_blocks == 0);  // freed at once
}

TEST_CASE("storage: a miss that would take the cache over its limit releases it first") {
  const CachingOn caching;
  set_storage_cache_limit(1 << 20);
  // ~400-600 KB each, all different classes, largest first: a second block would go over.
  for (const int64_t count : {150'000, 140'000, 130'000, 120'000, 110'000, 100'000}) {
    { const Tensor t = Tensor::empty({count}); }
    CHECK(storage_cache_stats().cached_bytes <= std::size_t{1} << 20);
  }
  // A miss that takes the cache exactly to its limit keeps it
  release_storage_cache();
  set_storage_cache_limit(4096 + 2048);
  { const Tensor t = Tensor::empty({1024}); }  // 4096 bytes
  { const Tensor t = Tensor::empty({512}); }   // 2048 bytes
  CHECK(storage_cache_stats().cached_bytes == 4096 + 2048);
  set_storage_cache_limit(std::size_t{4} << 30);
}

TEST_CASE("storage: two threads allocating and freeing at once leave the counts balanced") {
  const CachingOn caching;
  const std::size_t live_before = storage_cache_stats().live_bytes;
  const auto churn = [](int64_t base) {
    for (int i = 0; i < 2000; ++i) {
      const Tensor a = Tensor::empty({base + i % 7});
      const Tensor b = Tensor::empty({base * 3 + i % 5});
      *a.data<float>() = 1.0f;
      *b.data<float>() = 2.0f;
    }
  };
  std::thread first(churn, 100), second(churn, 1000);
  first.join();
  second.join();
  CHECK(storage_cache_stats().live_bytes == live_before);
}

// Run by CTest in processes of its own, with TAPEGRAD_STORAGE_CACHE=0 and =1
// (tests/CMakeLists.txt): the setting is read once, when the first storage is made.
TEST_CASE("storage: TAPEGRAD_STORAGE_CACHE sets whether caching starts on" * doctest::skip()) {
  const char* setting = std::getenv("TAPEGRAD_STORAGE_CACHE");
  REQUIRE(setting != nullptr);
  CHECK(storage_caching() == (std::string_view(setting) == "1"));
}
