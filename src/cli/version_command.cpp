// metagmm --version: the build, and the kernel levels compiled in and in use.
#include <iostream>

#include "command_list.hpp"
#include "isa_choice.hpp"
#include "metagmm/cli/commands.hpp"
#include "metagmm/core/build_info.hpp"
#include "metagmm/core/isa.hpp"
#include "metagmm/gmm/kernels.hpp"

namespace metagmm::cli {

int version_command(const std::vector<std::string>&, comm::Communicator&) {
  std::cout << "metagmm " << version() << " (revision " << git_revision() << ")\n"
            << "compiler    " << compiler() << "\n"
            << "built for   " << build_target()
            << (build_target() == "native" ? " (this build's processor only)" : " (any x86-64-v3 processor)") << "\n"
            << "kernels     " << join_isa_levels(gmm::compiled_kernel_levels()) << " compiled in; this processor supports "
            << join_isa_levels(supported_isa_levels()) << "\n"
            << "in use      " << to_string(gmm::kernels().level)
            << (isa_forced() ? " (METAGMM_ISA)" : " (the highest this processor supports)")
            << "\n";
  return kExitOk;
}

}  // namespace metagmm::cli
