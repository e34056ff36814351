#pragma once
// What this build is: version, the git revision it was built from, the compiler and the
// target it was compiled for. Shown by `metagmm --version` and stored in every checkpoint and
// model file.
#include <string_view>

namespace metagmm {

std::string_view version();
// `git describe --always --dirty` of the source tree at build time, or "unknown".
std::string_view git_revision();
std::string_view compiler();
// "x86-64-v3" (the portable default) or "native" (METAGMM_NATIVE=ON).
std::string_view build_target();

}  // namespace metagmm
