#pragma once
// Writing an output file so that a reader never sees it half-written: write to a temporary
// name beside it, then rename over the final name. If the writer is destroyed before
// commit() (an exception, an error), the temporary is removed and the final name untouched.
// A temporary a killed writer left (".NAME.tmp.PID" of another process) is removed by the next
// writer of NAME: a file has one writer at a time.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

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
  // When `name` is the temporary name another process (a killed one, since a directory has one
  // writer) gave a file beside it: the file name it was writing. Otherwise empty.
  static std::string stale_final_name(const std::string& name);

 private:
  std::filesystem::path final_;
  std::filesystem::path temp_;
  bool committed_ = false;
};

// Outputs that appear together or not at all (a model and its assignments, an evaluation's
// tables): each is written to its temporary, and commit() renames them all. Destroyed before
// commit(), it removes every temporary and no final name is touched.
class OutputGroup {
 public:
  AtomicFile& add(std::filesystem::path final_path);  // the reference stays valid
  void commit();

 private:
  std::vector<std::unique_ptr<AtomicFile>> files_;
};

}  // namespace metagmm
