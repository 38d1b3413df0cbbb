#include "autograd/kernels/thread_pool.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "autograd/error.hpp"

namespace tapegrad::kernels {
namespace {

using Clock = std::chrono::steady_clock;

// The most threads a loop can use, and the chunks each one's share is cut into (few: finer chunks
// measured no better under a busy neighbour, and cost a little on quiet cores).
constexpr int kMaxThreads = 1024;
constexpr int64_t kChunksPerThread = 2;

// How long a thread spins for the next loop (or the last chunks) before it sleeps; the gap
// between two readings of the clock that says the spinning thread was descheduled (a preemption
// lasts a scheduler slice, milliseconds; a quiet VM pauses a spinning thread for up to ~50 µs);
// how many loops a caller runs between two looks at the machine's runnable threads; and how long
// the machine counts as busy after either sign.
constexpr auto kSpinTime = std::chrono::microseconds(200);
constexpr auto kDescheduledGap = std::chrono::microseconds(250);
constexpr int kProbeEvery = 64;
constexpr auto kBusyFor = std::chrono::milliseconds(10);

// True while this thread runs a loop's body: loops inside it run on this thread alone.
thread_local bool inside_body = false;

void pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// The cores this process may run on.
int usable_cores() {
  cpu_set_t cores;
  if (sched_getaffinity(0, sizeof(cores), &cores) == 0)
    return std::clamp(CPU_COUNT(&cores), 1, kMaxThreads);
  return std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, kMaxThreads);
}

// OMP_NUM_THREADS if set (as PyTorch reads it), else the cores this process may run on.
int default_threads() {
  if (const char* text = std::getenv("OMP_NUM_THREADS")) {
    const int threads = std::atoi(text);
    if (threads >= 1) return std::min(threads, kMaxThreads);
  }
  return usable_cores();
}

// The threads runnable on the whole machine now, this one included (the kernel's nr_running, as
// /proc/loadavg gives it: "0.52 0.58 0.59 3/143 9012"); nothing where that file cannot be read.
// The file stays open: each pread at offset 0 gives a fresh text.
std::optional<int> runnable_threads() {
  static const int file = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
  if (file < 0) return std::nullopt;
  char text[128];
  const ssize_t length = pread(file, text, sizeof(text) - 1, 0);
  if (length <= 0) return std::nullopt;
  text[length] = '\0';
  int runnable = 0;
  if (std::sscanf(text, "%*f %*f %*f %d/", &runnable) != 1) return std::nullopt;
  return runnable;
}

// The first chunk of `participant`'s share, or the end of the loop's chunks for participants.
int64_t first_chunk_of(int64_t chunks, int participant, int participants) {
  return chunks * participant / participants;
}

}  // namespace

// ---- ItemRanges ----

std::optional<ItemRange> ItemRanges::next() {
  if (!pool_) return std::exchange(whole_, std::nullopt);
  std::optional<int64_t> chunk = std::exchange(first_chunk_, std::nullopt);
  if (!chunk) chunk = claim_chunk();
  if (!chunk) return std::nullopt;
  const int64_t items = pool_->items_.load(std::memory_order_relaxed);
  const int64_t chunks = pool_->chunks_.load(std::memory_order_relaxed);
  return ItemRange{items * *chunk / chunks, items * (*chunk + 1) / chunks};
}

// The next chunk of this thread's own share (from the front), else of another's (from the back).
// A compare-and-swap on a share's word claims a chunk only if the word still names the loop
// this thread read the job for: a late worker can never take a chunk of a later loop.
std::optional<int64_t> ItemRanges::claim_chunk() {
  const int participants = pool_->participants_.load(std::memory_order_relaxed);
  for (; victim_ < participants; ++victim_) {
    const int share = (participant_ + victim_) % participants;
    const bool own = victim_ == 0;
    std::atomic<uint64_t>& word = pool_->shares_[share].word;
    uint64_t seen = word.load(std::memory_order_acquire);
    for (;;) {
      const uint32_t generation = static_cast<uint32_t>(seen >> 32);
      const int64_t begin = static_cast<int64_t>((seen >> 16) & 0xFFFF);
      const int64_t end = static_cast<int64_t>(seen & 0xFFFF);
      if (generation != generation_ || begin >= end) break;
      const uint64_t taken = own ? ThreadPool::pack(generation, begin + 1, end)
                                 : ThreadPool::pack(generation, begin, end - 1);
      if (word.compare_exchange_weak(seen, taken, std::memory_order_acq_rel)) {
        ++claimed_;
        return own ? begin : end - 1;
      }
    }
  }
  return std::nullopt;
}

// ---- ThreadPool ----

ThreadPool& ThreadPool::instance() {
  static ThreadPool pool;
  return pool;
}

ThreadPool::ThreadPool() : cores_(usable_cores()), shares_(kMaxThreads) {
  set_threads(default_threads());
}

ThreadPool::~ThreadPool() {
  {
    const std::lock_guard lock(sleep_);
    stopping_.store(true);
    generation_.fetch_add(1);
  }
  loop_started_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

uint64_t ThreadPool::pack(uint32_t generation, int64_t begin, int64_t end) {
  return uint64_t{generation} << 32 | static_cast<uint64_t>(begin) << 16 |
         static_cast<uint64_t>(end);
}

void ThreadPool::set_threads(int threads) {
  if (threads < 1 || threads > kMaxThreads)
    fail("set_num_threads: {} threads; give 1 to {}", threads, kMaxThreads);
  const std::lock_guard lock(running_);
  // Workers beyond the count stay asleep: they are never a loop's participants.
  while (static_cast<int>(workers_.size()) < threads - 1) {
    const int participant = static_cast<int>(workers_.size()) + 1;
    // The worker waits for a loop after this one: read now, not when the thread gets to run, or
    // a loop (or the destructor's wake-up) published meanwhile would be missed.
    workers_.emplace_back(
        [this, participant, seen = generation_.load()] { work(participant, seen); });
  }
  worker_count_.store(static_cast<int>(workers_.size()));
  threads_.store(threads, std::memory_order_relaxed);
}

template <class Ready>
bool ThreadPool::spin_until(const Ready& ready) {
  const auto start = Clock::now();
  auto last = start;
  for (;;) {
    for (int i = 0; i < 32; ++i) {
      if (ready()) return true;
      pause();
    }
    const auto now = Clock::now();
    if (now - last > kDescheduledGap) {
      mark_busy();
      return ready();
    }
    if (now - start > kSpinTime) return ready();
    last = now;
  }
}

bool ThreadPool::all_asleep() const {
  return sleeping_workers_.load() == worker_count_.load(std::memory_order_relaxed);
}

bool ThreadPool::busy() const {
  return Clock::now().time_since_epoch().count() < busy_until_.load(std::memory_order_relaxed);
}

bool ThreadPool::may_wake(Team team) const { return team.wake || !busy(); }

void ThreadPool::mark_busy() {
  busy_until_.store((Clock::now() + kBusyFor).time_since_epoch().count(),
                    std::memory_order_relaxed);
}

// Every kProbeEvery loops, whether other jobs want the cores this pool's loops use: the
// machine's runnable threads (the fourth field of /proc/loadavg, "runnable/total") less this
// pool's awake ones (the caller and the workers not asleep) are the others', and the cores left
// to the pool are those this process may run on less the others' count.
//   others = runnable - (1 + workers - sleeping workers)
//   busy   if cores - others < threads()
// (The caller's count of involuntary context switches, used before, also counts preemptions by
// the pool's own freshly woken workers: on quiet cores it kept marking the machine busy.)
void ThreadPool::probe_neighbours() {
  thread_local int loops = 0;
  if (++loops < kProbeEvery) return;
  loops = 0;
  const std::optional<int> runnable = runnable_threads();
  if (!runnable) return;
  const int awake = 1 + worker_count_.load(std::memory_order_relaxed) - sleeping_workers_.load();
  const int others = std::max(*runnable - awake, 0);
  if (cores_ - others < threads()) mark_busy();
}

int ThreadPool::available(Team team) const {
  if (inside_body || (all_asleep() && !may_wake(team))) return 1;
  return std::min(team.threads, threads());
}

void ThreadPool::run_erased(int64_t items, Team team, const void* body, Call call) {
  if (team.threads > 1) probe_neighbours();
  const int threads = available(team);
  std::unique_lock lock(running_, std::defer_lock);
  if (items <= 1 || threads <= 1 || !lock.try_lock()) {
    ItemRanges alone(items);
    call(body, alone);
    return;
  }
  // Publish the loop: its fields, then every participant's share, then its generation.
  const int64_t chunks = std::min<int64_t>(items, threads * kChunksPerThread);
  const uint32_t generation = generation_.load(std::memory_order_relaxed) + 1;
  items_.store(items, std::memory_order_relaxed);
  chunks_.store(chunks, std::memory_order_relaxed);
  participants_.store(threads, std::memory_order_relaxed);
  body_.store(body, std::memory_order_relaxed);
  call_.store(call, std::memory_order_relaxed);
  for (int p = 0; p < threads; ++p) {
    shares_[p].word.store(pack(generation, first_chunk_of(chunks, p, threads),
                               first_chunk_of(chunks, p + 1, threads)),
                          std::memory_order_relaxed);
  }
  unfinished_.store(static_cast<int32_t>(chunks), std::memory_order_relaxed);
  generation_.store(generation);  // seq_cst: ordered before the read of sleeping_workers_
  if (may_wake(team) && sleeping_workers_.load() > 0 && !wake_pending_.load()) wake_workers();

  ItemRanges ranges(this, 0, generation);
  inside_body = true;
  call(body, ranges);
  inside_body = false;
  finish(ranges.claimed_);

  // Wait for the chunks other threads still run.
  const auto done = [this] { return unfinished_.load(std::memory_order_acquire) == 0; };
  if (!spin_until(done)) {
    std::unique_lock lock(sleep_);
    caller_sleeping_.store(true);  // seq_cst: ordered before the read of unfinished_
    loop_done_.wait(lock, done);
    caller_sleeping_.store(false);
  }
}

// Under sleep_, which a worker holds from its count in sleeping_workers_ to its wait, and again
// from its wake-up to clearing wake_pending_: a worker counted here is in its wait (or about to
// leave it), so one of them will clear the flag. Set outside the lock, the flag could be set
// just after a worker that never slept had cleared it, and stay set: no loop would wake the
// workers again, and the caller would run every loop alone.
void ThreadPool::wake_workers() {
  const std::lock_guard lock(sleep_);
  if (sleeping_workers_.load() > 0 && !wake_pending_.exchange(true)) loop_started_.notify_all();
}

void ThreadPool::finish(int32_t chunks_done) {
  if (chunks_done == 0) return;
  if (unfinished_.fetch_sub(chunks_done) == chunks_done && caller_sleeping_.load()) {
    const std::lock_guard lock(sleep_);
    loop_done_.notify_one();
  }
}

void ThreadPool::work(int participant, uint32_t seen) {
  for (;;) {
    const auto started = [&] { return generation_.load(std::memory_order_acquire) != seen; };
    if ((busy() && !started()) || !spin_until(started)) {
      std::unique_lock lock(sleep_);
      sleeping_workers_.fetch_add(1);  // seq_cst: ordered before the generation's read
      loop_started_.wait(lock, started);
      sleeping_workers_.fetch_sub(1);
      wake_pending_.store(false);
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stopping_.load()) return;
    if (participant >= participants_.load(std::memory_order_relaxed)) continue;
    const void* body = body_.load(std::memory_order_relaxed);
    const Call call = call_.load(std::memory_order_relaxed);
    ItemRanges ranges(this, participant, seen);
    ranges.first_chunk_ = ranges.claim_chunk();
    if (!ranges.first_chunk_) continue;  // the others took every chunk already
    inside_body = true;
    call(body, ranges);
    inside_body = false;
    finish(ranges.claimed_);
  }
}

}  // namespace tapegrad::kernels
