#include "metagmm/task/provenance.hpp"

#include "metagmm/core/build_info.hpp"
#include "metagmm/gmm/kernels.hpp"

namespace metagmm::task {

void write_provenance(h5::File& file) {
  file.set_attribute("/", "metagmm_version", std::string(version()));
  file.set_attribute("/", "git_revision", std::string(git_revision()));
  file.set_attribute("/", "isa", std::string(to_string(gmm::kernels().level)));
}

Provenance read_provenance(const h5::File& file) {
  return {file.string_attribute("/", "metagmm_version"), file.string_attribute("/", "git_revision"),
          file.string_attribute("/", "isa")};
}

std::string describe(const Provenance& p) {
  if (!p.version) return "unknown (written before metagmm 0.2.0)";
  return "metagmm " + *p.version + " (" + p.revision.value_or("unknown revision") + "), kernels " +
         p.isa.value_or("unknown");
}

}  // namespace metagmm::task
