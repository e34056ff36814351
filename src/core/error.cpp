#include "metagmm/core/error.hpp"

#include <cstdlib>
#include <iostream>

namespace metagmm {

[[noreturn]] void invariant_failed(const char* condition, const char* file, int line,
                                   const std::string& message) {
  std::cerr << "metagmm: internal error at " << file << ":" << line << ": " << message
            << " (" << condition << ")" << std::endl;
  std::abort();
}

}  // namespace metagmm
