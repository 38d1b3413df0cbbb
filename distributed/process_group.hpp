// ProcessGroup: the processes of one training run and the collective calls between them, over
// MPI (Open MPI), as PyTorch's torch.distributed with the "mpi" backend: rank, world size,
// barrier, broadcast and all-reduce of tensors, blocking or started now and waited for later.
//
// Launch with mpirun; each process makes one ProcessGroup, which initialises MPI (and finalises
// it when destroyed, if it initialised it):
//   mpirun -np 2 build/release/examples/train_classifier --distributed ...
// Only the thread that made the group may call it: backward() runs the gradient hooks on the
// thread that called it, so a training loop on one thread is right.
//
// Progress. MPI moves a non-blocking call on only inside MPI calls. So that an all-reduce started
// during backward() goes on while backward() computes, a progress thread of the group calls into
// MPI (MPI_Iprobe) every `progress_interval` while a call is in flight, and sleeps otherwise; the
// group's MPI calls take turns under a mutex (MPI_THREAD_SERIALIZED).
//
// No call waits forever. Every wait polls its request until it completes or `timeout` passes;
// then an Error names this rank, the call and the shapes, and says that another rank has likely
// died or stopped. An MPI error is an Error too (the communicator returns errors, it does not
// abort). A rank that dies is noticed by mpirun, which stops the others at once.
#pragma once

#include <mpi.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "autograd/tensor.hpp"

namespace tapegrad::distributed {

enum class ReduceOp { Sum, Average };  // torch.distributed's ReduceOp.SUM and ReduceOp.AVG

struct ProcessGroupOptions {
  // How long one collective call may wait for the others (PyTorch's default is 30 minutes too).
  std::chrono::milliseconds timeout = std::chrono::minutes(30);
  // How often the progress thread drives calls in flight; zero: no progress thread (a call then
  // moves on only when this rank tests or waits for it).
  std::chrono::microseconds progress_interval = std::chrono::microseconds(100);
};

class ProcessGroup;

// A collective call in flight (torch.distributed's Work): test() drives it on, wait() blocks
// until it completes. One destroyed before it completed (after an error) is left to MPI, with its
// tensor kept alive.
class Work {
 public:
  Work() = default;
  Work(Work&& other) noexcept;
  Work& operator=(Work&& other) noexcept;
  Work(const Work&) = delete;
  Work& operator=(const Work&) = delete;
  ~Work();

  bool test();  // true once the call has completed (then wait() returns at once)
  void wait();
  bool pending() const { return request_ != MPI_REQUEST_NULL; }

 private:
  friend class ProcessGroup;
  Work(const ProcessGroup* group, MPI_Request request, Tensor tensor, ReduceOp op,
       std::string call);
  void finish();  // the call has completed: Average divides

  const ProcessGroup* group_ = nullptr;
  MPI_Request request_ = MPI_REQUEST_NULL;
  Tensor tensor_;  // kept alive until the call completes
  ReduceOp op_ = ReduceOp::Sum;
  std::string call_;  // "all_reduce of float32 [1024]": for errors
};

class ProcessGroup {
 public:
  explicit ProcessGroup(ProcessGroupOptions options = {});
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // The processes of this group on this machine (mpirun's local size): how many share its cores.
  int local_size() const { return local_size_; }
  bool is_root() const { return rank_ == 0; }
  const ProcessGroupOptions& options() const { return options_; }

  void barrier() const;
  // Makes `tensor` (contiguous; float32, float64 or int64) hold root's values on every rank.
  // It and the all-reduces count the write in tensor.version().
  void broadcast(Tensor& tensor, int root = 0) const;
  // Replaces `tensor` (contiguous; float32, float64 or int64) with the sum over the ranks, or the
  // sum divided by size() for Average, on every rank.
  void all_reduce(Tensor& tensor, ReduceOp op = ReduceOp::Sum) const;
  // The same, started now: the result is in `tensor` once the Work has completed.
  Work all_reduce_async(Tensor& tensor, ReduceOp op = ReduceOp::Sum) const;
  // Root's bytes on every rank (for names, configs, and checks that all ranks agree).
  std::string broadcast_string(std::string text, int root = 0) const;

  // "rank 1 of 2": how errors name this process.
  std::string describe() const;
  // Ends every process of the run with `exit_code` (MPI_Abort): after an error on one rank, so
  // that the others do not wait for it until their timeout.
  [[noreturn]] void abort(int exit_code = 1) const;

 private:
  friend class Work;
  void check(int mpi_result, std::string_view call) const;  // an Error unless MPI_SUCCESS
  // Polls `request` until it completes or the timeout passes.
  void wait(MPI_Request& request, std::string_view call) const;
  bool test(MPI_Request& request, std::string_view call) const;
  void started() const;   // a non-blocking call is in flight: the progress thread drives it
  void finished() const;  // one has completed
  void drive_progress();  // the progress thread's loop

  ProcessGroupOptions options_;
  MPI_Comm communicator_ = MPI_COMM_NULL;  // a duplicate of MPI_COMM_WORLD
  int rank_ = 0;
  int size_ = 1;
  int local_size_ = 1;
  bool finalize_ = false;                           // this group initialised MPI
  MPI_Comm progress_communicator_ = MPI_COMM_NULL;  // probed by the progress thread
  mutable std::mutex mpi_;                          // one MPI call at a time
  mutable std::mutex progress_mutex_;               // guards in_flight_, stop_
  mutable std::condition_variable progress_wakeup_;
  mutable int in_flight_ = 0;
  bool stop_ = false;
  std::thread progress_thread_;
};

}  // namespace tapegrad::distributed
