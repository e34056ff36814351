#include "metagmm/core/text_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "metagmm/core/atomic_file.hpp"
#include "metagmm/core/error.hpp"

namespace metagmm {
namespace {

// Writes all of [data, data + size) to `fd`; false with errno set on failure.
bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (written == 0) {
      errno = ENOSPC;
      return false;
    }
    data += written;
    size -= static_cast<std::size_t>(written);
  }
  return true;
}

}  // namespace

void write_text_file(const std::filesystem::path& path, const std::string& text) {
  AtomicFile output(path);
  write_text_file(output, text);
  output.commit();
}

void write_text_file(const AtomicFile& output, const std::string& text) {
  const std::filesystem::path& path = output.final_path();
  const int fd = ::open(output.temp_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw write_failure(path.string(), errno);
  const bool written = write_all(fd, text.data(), text.size());
  const int write_errno = errno;
  // close() reports what a network file system could not store.
  const bool closed = ::close(fd) == 0;
  if (!written) throw write_failure(path.string(), write_errno);
  if (!closed) throw write_failure(path.string(), errno);
}

AppendOnlyFile::AppendOnlyFile(std::filesystem::path path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) throw write_failure(path_.string(), errno);
  struct stat status {};
  if (::fstat(fd_, &status) != 0) throw write_failure(path_.string(), errno);
  size_ = static_cast<std::uint64_t>(status.st_size);
}

AppendOnlyFile::~AppendOnlyFile() {
  if (fd_ >= 0) ::close(fd_);
}

void AppendOnlyFile::append(const std::string& record) {
  if (write_all(fd_, record.data(), record.size())) {
    size_ += record.size();
    return;
  }
  const int saved = errno;
  // Best effort: a part of the record may have been written before the disk filled up.
  if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
    // The file then ends mid-record; the message still names the first failure.
  }
  throw write_failure(path_.string(), saved);
}

}  // namespace metagmm
