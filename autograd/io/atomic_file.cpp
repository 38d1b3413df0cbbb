#include "autograd/io/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <system_error>
#include <utility>

#include "autograd/error.hpp"

namespace tapegrad {
namespace {

// The message of the OS error in errno, read before anything else can change it.
std::string last_os_error() { return std::system_category().message(errno); }

// Owns a file descriptor: closes it when it goes out of scope.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }
  // Closes now and returns close()'s result: a delayed write error shows up here.
  int close() { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

// A file under construction: removed on destruction unless it was renamed into place.
class TemporaryFile {
 public:
  TemporaryFile(std::filesystem::path path, const std::filesystem::path& target)
      : path_(std::move(path)),
        target_(target),
        fd_(::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666)) {
    if (!fd_.is_open()) fail_with("cannot create");
  }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  ~TemporaryFile() {
    if (!renamed_) ::unlink(path_.c_str());
  }

  void write(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t written = ::write(fd_.get(), bytes.data(), bytes.size());
      if (written < 0 && errno == EINTR) continue;
      if (written < 0) fail_with("cannot write to");
      bytes.remove_prefix(static_cast<std::size_t>(written));
    }
  }

  void sync_and_close() {
    if (::fsync(fd_.get()) != 0) fail_with("cannot flush");
    if (fd_.close() != 0) fail_with("cannot close");
  }

  void rename_over_target() {
    if (::rename(path_.c_str(), target_.c_str()) != 0) fail_with("cannot rename");
    renamed_ = true;
  }

 private:
  [[noreturn]] void fail_with(std::string_view step) const {
    const std::string error = last_os_error();
    fail("cannot write {}: {} the temporary file {}: {}", target_.string(), step, path_.string(),
         error);
  }

  std::filesystem::path path_;
  std::filesystem::path target_;
  FileDescriptor fd_;
  bool renamed_ = false;
};

// `.<name>.tmp.<pid>.<counter>` next to the target: unique across processes and threads.
std::filesystem::path temporary_path_for(const std::filesystem::path& target) {
  static std::atomic<unsigned long long> counter{0};
  return target.parent_path() /
         fmt::format(".{}.tmp.{}.{}", target.filename().string(), ::getpid(), counter.fetch_add(1));
}

// Makes the rename itself durable: a directory's entries reach the disk when it is synced.
void sync_directory(const std::filesystem::path& directory, const std::filesystem::path& target) {
  FileDescriptor fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.is_open() && ::fsync(fd.get()) == 0) return;
  const std::string error = last_os_error();
  fail("cannot write {}: the file was replaced, but syncing its directory {} failed: {}",
       target.string(), directory.string(), error);
}

[[noreturn]] void fail_reading(const std::filesystem::path& path) {
  const std::string error = last_os_error();
  fail("cannot read {}: {}", path.string(), error);
}

}  // namespace

void write_file_atomically(const std::filesystem::path& path, std::string_view bytes) {
  if (!path.has_filename()) fail("cannot write {}: the path names no file", path.string());
  TemporaryFile file(temporary_path_for(path), path);
  file.write(bytes);
  file.sync_and_close();
  file.rename_over_target();
  sync_directory(path.has_parent_path() ? path.parent_path() : ".", path);
}

std::string read_file(const std::filesystem::path& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.is_open()) fail_reading(path);
  std::string bytes;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t count = ::read(fd.get(), buffer, sizeof buffer);
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) fail_reading(path);
    if (count == 0) break;
    bytes.append(buffer, static_cast<std::size_t>(count));
  }
  return bytes;
}

}  // namespace tapegrad
