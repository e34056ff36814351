#pragma once
// Text outputs written so that a failure is seen and nothing half-written stays: every write
// and close is checked, and a failure is an OutputError naming the file and the reason
// ("no space left on device (disk full)").
#include <cstdint>
#include <filesystem>
#include <string>

namespace metagmm {

class AtomicFile;

// Writes `text` as the whole of `path`, through a temporary and a rename (core/atomic_file.hpp).
void write_text_file(const std::filesystem::path& path, const std::string& text);
// Writes `text` to `output`'s temporary without committing it (outputs that must appear together).
void write_text_file(const AtomicFile& output, const std::string& text);

// A file that only grows by whole records (metrics.jsonl's lines): a record that cannot be
// written whole is cut off again, so the file always ends at a record boundary.
class AppendOnlyFile {
 public:
  // Opens `path` for appending; it must exist (write it first with write_text_file).
  explicit AppendOnlyFile(std::filesystem::path path);
  ~AppendOnlyFile();
  AppendOnlyFile(const AppendOnlyFile&) = delete;
  AppendOnlyFile& operator=(const AppendOnlyFile&) = delete;
  void append(const std::string& record);

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;  // bytes of whole records
};

}  // namespace metagmm
