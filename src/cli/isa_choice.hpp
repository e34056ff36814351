#pragma once
// Which kernel level a command computes with (gmm/kernels.hpp), decided once at start-up:
// METAGMM_ISA if set (refused with exit 2 when this build or processor lacks it), else the
// highest level the processor supports. Under MPI the ranks then agree on the lowest of their
// levels, so a job on mixed nodes gives the same bits as a one-rank run at that level; a
// resumed run keeps its checkpoint's level where every rank has it.
#include <string>

#include "metagmm/comm/communicator.hpp"
#include "metagmm/core/isa.hpp"
#include "metagmm/task/provenance.hpp"

namespace metagmm::cli {

// Whether METAGMM_ISA names a level (set, and not "auto").
bool isa_forced();
// The level for this process, from METAGMM_ISA or the processor; throws InputError for an
// unknown or unsupported METAGMM_ISA.
void choose_process_isa();
// Every rank's level, agreed on the lowest (a collective call). Returns how it was decided, for
// the start-up line: "avx2 (the highest every rank supports)" or "sse2 (ranks: 1 sse2, 1 avx2)".
std::string agree_isa(comm::Communicator& comm);
// For a run resumed from a checkpoint, after agree_isa: keeps the checkpoint's level where every
// rank can run it (it is compiled in and not above the agreed level) and METAGMM_ISA does not ask
// for another; otherwise keeps the agreed level, and `warning` says why results may then differ
// from an uninterrupted run in the last bits. Not collective: every rank decides alike. Returns
// the new description for the start-up line, or `agreed` unchanged.
std::string keep_checkpoint_isa(const task::Provenance& recorded, const std::string& agreed, std::string& warning);

}  // namespace metagmm::cli
