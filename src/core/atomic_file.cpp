#include "metagmm/core/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "metagmm/core/error.hpp"

namespace metagmm {
namespace {

constexpr const char* kTemporaryInfix = ".tmp.";  // ".NAME.tmp.PID"

void fsync_path(const std::filesystem::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return;  // best effort: durability, not correctness, depends on it
  ::fsync(fd);
  ::close(fd);
}

// A killed writer of the same file left its temporary: the next writer removes it.
void remove_stale_temporaries(const std::filesystem::path& directory, const std::string& final_name) {
  std::error_code error;
  std::vector<std::filesystem::path> stale;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    if (AtomicFile::stale_final_name(entry.path().filename().string()) == final_name) stale.push_back(entry.path());
  }
  for (const auto& path : stale) std::filesystem::remove(path, error);
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
  temp_ = directory / ("." + final_.filename().string() + kTemporaryInfix + std::to_string(::getpid()));
  remove_stale_temporaries(directory, final_.filename().string());
}

std::string AtomicFile::stale_final_name(const std::string& name) {
  const auto infix = name.rfind(kTemporaryInfix);
  if (name.size() < 2 || name[0] != '.' || infix == std::string::npos || infix < 2) return {};
  const std::string pid = name.substr(infix + std::strlen(kTemporaryInfix));
  if (pid.empty() || pid.size() > 10 || pid.find_first_not_of("0123456789") != std::string::npos) return {};
  if (pid == std::to_string(::getpid())) return {};
  return name.substr(1, infix - 1);
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

AtomicFile& OutputGroup::add(std::filesystem::path final_path) {
  files_.push_back(std::make_unique<AtomicFile>(std::move(final_path)));
  return *files_.back();
}

void OutputGroup::commit() {
  for (const auto& file : files_) file->commit();
}

}  // namespace metagmm
