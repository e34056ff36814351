#pragma once
// Which build wrote a file and with which kernels: root attributes metagmm_version,
// git_revision and isa (the kernel level in use, gmm/kernels.hpp) on every task set, model
// file and checkpoint. Provenance only: a checkpoint's checksum does not cover them.
#include <optional>
#include <string>

#include "metagmm/h5/file.hpp"

namespace metagmm::task {

struct Provenance {
  std::optional<std::string> version, revision, isa;  // absent in files of older builds
};

void write_provenance(h5::File& file);
Provenance read_provenance(const h5::File& file);
// "metagmm 0.2.0 (ef31712abcde), kernels avx2", or "unknown (written before 0.2.0)".
std::string describe(const Provenance& provenance);

}  // namespace metagmm::task
