#pragma once
// Writing an output file so that a reader never sees it half-written: write to a temporary
// name beside it, then rename over the final name. If the writer is destroyed before
// commit() (an exception, an error), the temporary is removed and the final name untouched.
#include <filesystem>
#include <string>

namespace metagmm {

class AtomicFile {
 public:
  // Throws InputError if the directory of `final_path` does not exist or is not writable.
  explicit AtomicFile(std::filesystem::path final_path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::filesystem::path& temp_path() const { return temp_; }
  const std::filesystem::path& final_path() const { return final_; }
  // Flushes the temporary to disk and renames it over the final path.
  void commit();

 private:
  std::filesystem::path final_;
  std::filesystem::path temp_;
  bool committed_ = false;
};

}  // namespace metagmm
