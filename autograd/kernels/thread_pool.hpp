// The threads that run tapegrad's parallel loops, made for machines whose cores other jobs may
// take at any moment.
//
// Sharing. A loop's items are cut into chunks, and each participating thread (the caller and up to
// num_threads() - 1 workers) owns a consecutive share of them, as a static schedule would give
// it: on quiet cores every thread works through its own share front to back, near the data it
// touched in the loop before. A thread that runs out of its own chunks takes the others'
// unclaimed chunks from the back. So the caller never waits for a worker that has not started
// (a worker whose core another process holds may start milliseconds late, and its share is then
// done by the others): it waits only for chunks a worker has claimed and is still running.
// Which thread runs a chunk never changes what the chunk computes, so results do not depend on
// the sharing.
//
// Waiting. Between loops a worker spins for up to kSpinTime (a loop that follows soon finds it
// awake), then sleeps on a condition variable until a loop wakes it. The caller waits for the
// last running chunks the same way.
//
// A busy machine. Two signs say that another job wants our cores: a spinning thread finds itself
// descheduled (a long gap between two readings of the clock), or the caller finds more threads
// runnable on the machine than the pool's awake ones and the free cores can hold (the kernel's
// count in /proc/loadavg, looked at every kProbeEvery loops). Either marks the machine busy for
// kBusyFor. While it is busy, workers sleep as soon as a loop
// is done, and only loops of a Team with `wake` (large ones) wake them: on a core shared with
// another job, a spinning or freshly woken worker for a small loop only takes time from that job
// or from the caller, and the scheduler then tends to leave the caller the free core.
//
// One loop runs at a time: a loop started from another thread while one runs, or from inside a
// loop's body, runs on its own thread alone. Bodies must not throw.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace tapegrad::kernels {

struct ItemRange {
  int64_t begin, end;
};

// The threads a loop may share its work with, and whether it is large enough to wake sleeping
// workers even on a busy machine.
struct Team {
  int threads;
  bool wake;
};

class ThreadPool;

// One thread's view of a running loop: next() hands out ranges of items until none are left.
class ItemRanges {
 public:
  std::optional<ItemRange> next();

 private:
  friend class ThreadPool;
  ItemRanges(ThreadPool* pool, int participant, uint32_t generation)
      : pool_(pool), participant_(participant), generation_(generation) {}
  explicit ItemRanges(int64_t items) {
    if (items > 0) whole_ = ItemRange{0, items};
  }

  std::optional<int64_t> claim_chunk();

  ThreadPool* pool_ = nullptr;          // null: the whole loop on this thread, as whole_
  std::optional<ItemRange> whole_;      // the one range of a loop run alone
  int participant_ = 0;                 // whose share is this thread's own
  uint32_t generation_ = 0;             // which loop the chunks belong to
  int victim_ = 0;                      // whose share to take chunks from next, once done
  std::optional<int64_t> first_chunk_;  // claimed before the body starts
  int32_t claimed_ = 0;                 // chunks this thread has taken so far
};

class ThreadPool {
 public:
  static ThreadPool& instance();

  // The caller and threads - 1 workers share the loops from now on (threads >= 1).
  void set_threads(int threads);
  int threads() const { return threads_.load(std::memory_order_relaxed); }

  // How many threads a loop of `team` would get now: 1 inside a loop's body, or when every
  // worker sleeps and the loop may not wake them. Kernels whose items depend on the thread count
  // (a GEMM's grid of blocks) ask before they cut their work.
  int available(Team team) const;

  // Calls body(ranges) on the calling thread and on up to team.threads - 1 workers, each taking
  // ranges of [0, items) from `ranges` until none are left; returns when every item is done.
  template <class Body>
  void run(int64_t items, Team team, const Body& body) {
    run_erased(items, team, &body, [](const void* erased, ItemRanges& ranges) noexcept {
      (*static_cast<const Body*>(erased))(ranges);
    });
  }

  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

 private:
  friend class ItemRanges;
  using Call = void (*)(const void* body, ItemRanges& ranges) noexcept;

  ThreadPool();
  void run_erased(int64_t items, Team team, const void* body, Call call);
  void work(int participant, uint32_t seen);
  void wake_workers();
  void finish(int32_t chunks_done);
  bool busy() const;
  bool may_wake(Team team) const;
  void mark_busy();
  void probe_neighbours();
  bool all_asleep() const;
  // Spins until ready() holds (true), kSpinTime has passed or the thread was descheduled (false,
  // and the machine marked busy).
  template <class Ready>
  bool spin_until(const Ready& ready);

  // A share of chunks [begin, end) of the loop numbered `generation`, in one word so that taking
  // a chunk is one compare-and-swap that fails if the loop is not that one any more.
  struct alignas(64) Share {
    std::atomic<uint64_t> word{0};
  };
  static uint64_t pack(uint32_t generation, int64_t begin, int64_t end);

  const int cores_;  // that this process may run on

  // The running loop, written by the caller before it publishes `generation_`. Atomic because a
  // late worker may read them while the next loop's caller writes them; it only uses what it read
  // once it has claimed a chunk of the loop it read them for (see ItemRanges::claim_chunk).
  std::atomic<int64_t> items_{0}, chunks_{0};
  std::atomic<int> participants_{0};
  std::atomic<const void*> body_{nullptr};
  std::atomic<Call> call_{nullptr};
  std::vector<Share> shares_;

  std::atomic<uint32_t> generation_{0};  // counts loops
  std::atomic<int32_t> unfinished_{0};   // chunks not done yet
  std::atomic<int> sleeping_workers_{0};
  std::atomic<bool> wake_pending_{false};  // notified, and no worker has woken since
  std::atomic<bool> caller_sleeping_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> busy_until_{0};  // steady_clock ticks
  std::atomic<int> worker_count_{0};

  std::atomic<int> threads_{1};
  std::mutex running_;  // held by the caller of the running loop, and by set_threads
  // Sleeping: workers until a loop starts, the caller until its loop's last chunk is done.
  std::mutex sleep_;
  std::condition_variable loop_started_, loop_done_;
  std::vector<std::thread> workers_;
};

}  // namespace tapegrad::kernels
