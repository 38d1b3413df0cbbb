#include "distributed/process_group.hpp"

#include <fmt/format.h>

#include <climits>
#include <cstdlib>
#include <thread>

#include "autograd/factories.hpp"
#include "autograd/kernels/functors.hpp"
#include "autograd/kernels/map.hpp"

namespace tapegrad::distributed {
namespace {

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return MPI_FLOAT;
    case DType::Float64:
      return MPI_DOUBLE;
    case DType::Int64:
      return MPI_INT64_T;
    default:
      return MPI_DATATYPE_NULL;
  }
}

void* first_byte(const Tensor& tensor) {
  return static_cast<char*>(tensor.storage()->data()) +
         tensor.storage_offset() * static_cast<int64_t>(element_size(tensor.dtype()));
}

// "all_reduce of float32 [4, 3]".
std::string describe_call(std::string_view call, const Tensor& tensor) {
  return fmt::format("{} of {} {}", call, dtype_name(tensor.dtype()), tensor.shape());
}

// The element type and count of a tensor a collective call can take, or an Error saying why not.
std::pair<MPI_Datatype, int> checked_buffer(const Tensor& tensor, std::string_view call) {
  if (!tensor.defined()) fail("distributed.{}: the tensor is undefined", call);
  if (!tensor.is_contiguous())
    fail("distributed.{}: the tensor {} is not contiguous (call .contiguous() first)", call,
         tensor.shape());
  const MPI_Datatype type = mpi_type(tensor.dtype());
  if (type == MPI_DATATYPE_NULL)
    fail("distributed.{}: {} tensors cannot be sent (float32, float64 or int64 only)", call,
         dtype_name(tensor.dtype()));
  if (tensor.numel() > INT_MAX)
    fail("distributed.{}: {} elements are more than one MPI call takes ({})", call, tensor.numel(),
         INT_MAX);
  return {type, static_cast<int>(tensor.numel())};
}

}  // namespace

ProcessGroup::ProcessGroup(ProcessGroupOptions options) : options_(options) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (finalized)
    fail(
        "distributed.ProcessGroup: MPI has been finalised in this process, and cannot start again "
        "(make one ProcessGroup for the whole run)");
  if (!initialized) {
    // Open MPI's non-blocking all-reduce (libnbc) picks, for 2 ranks, an algorithm that took
    // 12 ms for 16 MB on one machine where its ring takes 4.5 (and the blocking MPI_Allreduce 5):
    // the ring, unless the user chose otherwise (the variable is Open MPI's; others ignore it).
    setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", /*overwrite=*/0);
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
      fail("distributed.ProcessGroup: MPI_Init_thread failed");
    finalize_ = true;
  }
  int level = 0;
  MPI_Query_thread(&level);
  if (level < MPI_THREAD_SERIALIZED) options_.progress_interval = {};  // no second thread
  MPI_Comm_dup(MPI_COMM_WORLD, &communicator_);
  MPI_Comm_set_errhandler(communicator_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(communicator_, &rank_);
  MPI_Comm_size(communicator_, &size_);
  MPI_Comm local = MPI_COMM_NULL;
  check(MPI_Comm_split_type(communicator_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local),
        "MPI_Comm_split_type");
  MPI_Comm_size(local, &local_size_);
  MPI_Comm_free(&local);
  if (options_.progress_interval.count() > 0) {
    MPI_Comm_dup(MPI_COMM_WORLD, &progress_communicator_);
    progress_thread_ = std::thread([this] { drive_progress(); });
  }
}

ProcessGroup::~ProcessGroup() {
  if (progress_thread_.joinable()) {
    {
      const std::lock_guard lock(progress_mutex_);
      stop_ = true;
    }
    progress_wakeup_.notify_one();
    progress_thread_.join();
    MPI_Comm_free(&progress_communicator_);
  }
  MPI_Comm_free(&communicator_);
  if (finalize_) MPI_Finalize();
}

void ProcessGroup::started() const {
  {
    const std::lock_guard lock(progress_mutex_);
    ++in_flight_;
  }
  progress_wakeup_.notify_one();
}

void ProcessGroup::finished() const {
  const std::lock_guard lock(progress_mutex_);
  --in_flight_;
}

// Any MPI call runs Open MPI's progress engine, which moves every call in flight on; a probe on
// a communicator of its own finds nothing and changes nothing else.
void ProcessGroup::drive_progress() {
  std::unique_lock lock(progress_mutex_);
  while (true) {
    progress_wakeup_.wait(lock, [this] { return stop_ || in_flight_ > 0; });
    if (stop_) return;
    lock.unlock();
    {
      const std::lock_guard mpi(mpi_);
      int found = 0;
      MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, progress_communicator_, &found, MPI_STATUS_IGNORE);
    }
    std::this_thread::sleep_for(options_.progress_interval);
    lock.lock();
  }
}

std::string ProcessGroup::describe() const { return fmt::format("rank {} of {}", rank_, size_); }

void ProcessGroup::abort(int exit_code) const {
  MPI_Abort(communicator_, exit_code);
  std::abort();  // MPI_Abort does not return; the compiler does not know it
}

void ProcessGroup::check(int mpi_result, std::string_view call) const {
  if (mpi_result == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(mpi_result, text, &length);
  fail("distributed: {}: {} failed: {}", describe(), call, std::string_view(text, length));
}

bool ProcessGroup::test(MPI_Request& request, std::string_view call) const {
  int done = 0;
  const std::lock_guard mpi(mpi_);
  check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), call);
  return done != 0;
}

// Polls until the call completes: for the first millisecond yielding the core between polls to
// any thread that wants it, then sleeping 50 µs between them, so that a rank waiting long for
// the others (at a barrier, for a slower rank) leaves its core to them. (Spinning for 50 ms
// instead made training steps of 2 ranks on 2 cores 15% slower: the two cores are not
// independent.)
void ProcessGroup::wait(MPI_Request& request, std::string_view call) const {
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + options_.timeout;
  while (!test(request, call)) {
    const auto now = std::chrono::steady_clock::now();
    if (now > deadline)
      fail(
          "distributed: {}: {} did not complete within {} s: another rank has likely died, "
          "stopped or taken another path through the program (every rank must make the same "
          "collective calls in the same order)",
          describe(), call, std::chrono::duration<double>(options_.timeout).count());
    if (now - started < std::chrono::milliseconds(1))
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

void ProcessGroup::barrier() const {
  MPI_Request request = MPI_REQUEST_NULL;
  {
    const std::lock_guard mpi(mpi_);
    check(MPI_Ibarrier(communicator_, &request), "barrier");
  }
  wait(request, "barrier");
}

void ProcessGroup::broadcast(Tensor& tensor, int root) const {
  const auto [type, count] = checked_buffer(tensor, "broadcast");
  if (root < 0 || root >= size_)
    fail("distributed.broadcast: root {} is not a rank of {} processes", root, size_);
  const std::string call = describe_call("broadcast", tensor);
  tensor.increment_version();
  MPI_Request request = MPI_REQUEST_NULL;
  {
    const std::lock_guard mpi(mpi_);
    check(MPI_Ibcast(first_byte(tensor), count, type, root, communicator_, &request), call);
  }
  wait(request, call);
}

std::string ProcessGroup::broadcast_string(std::string text, int root) const {
  Tensor length = from_vector(std::vector<int64_t>{static_cast<int64_t>(text.size())}, {1});
  broadcast(length, root);
  text.resize(static_cast<std::size_t>(length.data<int64_t>()[0]));
  MPI_Request request = MPI_REQUEST_NULL;
  {
    const std::lock_guard mpi(mpi_);
    check(MPI_Ibcast(text.data(), static_cast<int>(text.size()), MPI_CHAR, root, communicator_,
                     &request),
          "broadcast_string");
  }
  wait(request, "broadcast_string");
  return text;
}

void ProcessGroup::all_reduce(Tensor& tensor, ReduceOp op) const {
  all_reduce_async(tensor, op).wait();
}

Work ProcessGroup::all_reduce_async(Tensor& tensor, ReduceOp op) const {
  const auto [type, count] = checked_buffer(tensor, "all_reduce");
  if (op == ReduceOp::Average && !is_floating(tensor.dtype()))
    fail("distributed.all_reduce: Average of an {} tensor (use Sum, or a floating tensor)",
         dtype_name(tensor.dtype()));
  std::string call = describe_call("all_reduce", tensor);
  tensor.increment_version();
  MPI_Request request = MPI_REQUEST_NULL;
  {
    const std::lock_guard mpi(mpi_);
    check(MPI_Iallreduce(MPI_IN_PLACE, first_byte(tensor), count, type, MPI_SUM, communicator_,
                         &request),
          call);
  }
  started();
  return Work(this, request, tensor, op, std::move(call));
}

Work::Work(const ProcessGroup* group, MPI_Request request, Tensor tensor, ReduceOp op,
           std::string call)
    : group_(group),
      request_(request),
      tensor_(std::move(tensor)),
      op_(op),
      call_(std::move(call)) {}

Work::Work(Work&& other) noexcept { *this = std::move(other); }

Work& Work::operator=(Work&& other) noexcept {
  std::swap(group_, other.group_);
  std::swap(request_, other.request_);
  std::swap(tensor_, other.tensor_);
  std::swap(op_, other.op_);
  std::swap(call_, other.call_);
  return *this;
}

// A Work destroyed before it completed was left by an error (a wait that timed out, an
// exception between backward() and synchronize()): waiting again could take as long, so the call
// is left to MPI and its tensor kept alive for it, never freed under MPI's writes.
Work::~Work() {
  if (!pending()) return;
  static std::vector<Tensor> abandoned;
  abandoned.push_back(tensor_);
}

bool Work::test() {
  if (!pending()) return true;
  if (!group_->test(request_, call_)) return false;
  finish();
  return true;
}

void Work::wait() {
  if (!pending()) return;
  group_->wait(request_, call_);
  finish();
}

void Work::finish() {
  request_ = MPI_REQUEST_NULL;
  group_->finished();
  if (op_ != ReduceOp::Average) return;
  dispatch_floating(tensor_.dtype(), "distributed.all_reduce", [&]<class T>() {
    T* values = tensor_.data<T>();
    const auto size = static_cast<T>(group_->size());
    kernels::binary(values, 1, &size, 0, values, tensor_.numel(), kernels::Div{});
  });
}

}  // namespace tapegrad::distributed
