// Runs before any other code of the program: a constructor of the highest priority, compiled
// for the plain x86-64 baseline (CMakeLists.txt). A processor that lacks what the build was
// compiled for then gets one clear line and exit status 2 instead of dying on an illegal
// instruction somewhere later.
#include <unistd.h>

#ifndef METAGMM_REQUIRED_LEVEL
#error "METAGMM_REQUIRED_LEVEL: the x86-64 level the build needs, set by CMakeLists.txt"
#endif

namespace {

__attribute__((constructor(101))) void check_processor() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports(METAGMM_REQUIRED_LEVEL)) return;
  static const char message[] =
      "metagmm: error: this processor lacks " METAGMM_REQUIRED_LEVEL
      ", which this build of metagmm needs (the portable build needs x86-64-v3: AVX2 and FMA)\n";
  [[maybe_unused]] const auto written = write(STDERR_FILENO, message, sizeof message - 1);
  _exit(2);
}

}  // namespace
