#include "metagmm/core/build_info.hpp"

#include "metagmm/build_config.hpp"

namespace metagmm {

// Written by cmake/revision.cmake at every build, so it names the commit actually compiled.
const char* build_revision();

std::string_view version() { return METAGMM_VERSION; }
std::string_view git_revision() { return build_revision(); }
std::string_view compiler() { return METAGMM_COMPILER; }
std::string_view build_target() { return METAGMM_TARGET; }

}  // namespace metagmm
