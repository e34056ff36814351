#pragma once
// Two kinds of failure (DESIGN.md section 5): bad user input is an InputError that `main`
// turns into one line and exit status 2; a broken internal invariant aborts.
#include <stdexcept>
#include <string>

namespace metagmm {

// Bad options, files or data. The message names the file, object or option and what was
// expected; it is printed as it is.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void invariant_failed(const char* condition, const char* file, int line,
                                   const std::string& message);

}  // namespace metagmm

#define METAGMM_CHECK(condition, message)                                               \
  do {                                                                                  \
    if (!(condition)) ::metagmm::invariant_failed(#condition, __FILE__, __LINE__, (message)); \
  } while (false)
