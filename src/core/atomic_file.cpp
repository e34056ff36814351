#include "metagmm/core/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "metagmm/core/error.hpp"

namespace metagmm {
namespace {

void fsync_path(const std::filesystem::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return;  // best effort: durability, not correctness, depends on it
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

AtomicFile::AtomicFile(std::filesystem::path final_path) : final_(std::move(final_path)) {
  if (final_.empty()) throw InputError("output path is empty");
  std::filesystem::path directory = final_.parent_path();
  if (directory.empty()) directory = ".";
  std::error_code error;
  if (!std::filesystem::is_directory(directory, error)) {
    throw InputError("cannot write " + final_.string() + ": directory " + directory.string() +
                     " does not exist");
  }
  if (::access(directory.c_str(), W_OK) != 0) {
    throw InputError("cannot write " + final_.string() + ": directory " + directory.string() +
                     " is not writable (" + std::strerror(errno) + ")");
  }
  if (std::filesystem::is_directory(final_, error)) {
    throw InputError("cannot write " + final_.string() + ": it is a directory");
  }
  std::string temp_name = ".";
  temp_name += final_.filename().string();
  temp_name += ".tmp.";
  temp_name += std::to_string(::getpid());
  temp_ = directory / temp_name;
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    std::error_code ignored;
    std::filesystem::remove(temp_, ignored);
  }
}

void AtomicFile::commit() {
  fsync_path(temp_, O_RDONLY);
  if (std::rename(temp_.c_str(), final_.c_str()) != 0) {
    throw InputError("cannot write " + final_.string() + ": rename failed (" +
                     std::strerror(errno) + ")");
  }
  committed_ = true;
  std::filesystem::path directory = final_.parent_path();
  fsync_path(directory.empty() ? "." : directory, O_RDONLY | O_DIRECTORY);
}

}  // namespace metagmm
