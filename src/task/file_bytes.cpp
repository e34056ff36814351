#include "metagmm/task/file_bytes.hpp"

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "metagmm/core/error.hpp"

namespace metagmm::task {

std::string read_file_bytes(const std::string& path) {
  std::error_code error;
  if (std::filesystem::exists(path, error) && !std::filesystem::is_regular_file(path, error)) {
    throw InputError(path + ": not a regular file (a directory?)");
  }
  if (!path.ends_with(".gz")) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(path + ": cannot open (no such file or not readable)");
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) throw InputError(path + ": cannot open (no such file or not readable)");
  std::string text;
  char buffer[1 << 16];
  int got = 0;
  while ((got = gzread(file, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<std::size_t>(got));
  int status = Z_OK;
  const char* message = gzerror(file, &status);
  const std::string why = got < 0 && message ? message : "";
  gzclose(file);
  if (got < 0) throw InputError(path + ": not a readable gzip file (" + why + ")");
  return text;
}

}  // namespace metagmm::task
