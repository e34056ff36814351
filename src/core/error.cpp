#include "metagmm/core/error.hpp"

#include <cerrno>
#include <cstdlib>
#include <cctype>
#include <cstring>
#include <iostream>

namespace metagmm {

[[noreturn]] void invariant_failed(const char* condition, const char* file, int line,
                                   const std::string& message) {
  std::cerr << "metagmm: internal error at " << file << ":" << line << ": " << message
            << " (" << condition << ")" << std::endl;
  std::abort();
}

OutputError write_failure(const std::string& path, int saved_errno) {
  std::string reason;
  if (saved_errno == ENOSPC || saved_errno == EDQUOT) {
    reason = std::string(std::strerror(saved_errno)) + " (disk full)";
  } else if (saved_errno != 0) {
    reason = std::strerror(saved_errno);
  } else {
    reason = "write failed (disk full or file system error)";
  }
  for (char& c : reason) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return OutputError("cannot write " + path + ": " + reason);
}

}  // namespace metagmm
