#include "isa_choice.hpp"

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/kernels.hpp"

namespace metagmm::cli {
namespace {

std::string forced_isa() {
  const char* value = std::getenv("METAGMM_ISA");
  return value && std::string(value) != "auto" ? std::string(value) : std::string();
}

// Ranks at each level, by a sum of one-hot counts (exact, and the same on every rank).
std::vector<std::int64_t> ranks_per_level(comm::Communicator& comm, IsaLevel mine) {
  std::vector<std::int64_t> counts(kIsaLevelCount, 0);
  counts[static_cast<std::size_t>(mine)] = 1;
  comm.sum(counts);
  return counts;
}

IsaLevel lowest(const std::vector<std::int64_t>& counts) {
  for (int i = 0; i < kIsaLevelCount; ++i)
    if (counts[static_cast<std::size_t>(i)] > 0) return static_cast<IsaLevel>(i);
  METAGMM_CHECK(false, "no rank reported a kernel level");
  return IsaLevel::sse2;
}

std::string describe_counts(const std::vector<std::int64_t>& counts) {
  std::string text;
  for (int i = 0; i < kIsaLevelCount; ++i) {
    if (counts[static_cast<std::size_t>(i)] == 0) continue;
    if (!text.empty()) text += ", ";
    text += std::to_string(counts[static_cast<std::size_t>(i)]) + " " + std::string(to_string(static_cast<IsaLevel>(i)));
  }
  return text;
}

}  // namespace

bool isa_forced() { return !forced_isa().empty(); }

void choose_process_isa() {
  const std::string forced = forced_isa();
  if (forced.empty()) {
    gmm::use_kernels(gmm::best_kernel_level());
    return;
  }
  const auto level = parse_isa_level(forced);
  if (!level) throw InputError("METAGMM_ISA=" + forced + ": expected sse2, avx2, avx512 or auto");
  try {
    gmm::use_kernels(*level);
  } catch (const InputError& error) {
    throw InputError("METAGMM_ISA=" + forced + ": " + error.what());
  }
}

std::string agree_isa(comm::Communicator& comm) {
  const auto counts = ranks_per_level(comm, gmm::kernels().level);
  const IsaLevel agreed = lowest(counts);
  // A lower level is compiled into every portable build; a native build has one level, the
  // same on every rank built alike.
  gmm::use_kernels(agreed);
  const std::string name(to_string(agreed));
  const bool forced = isa_forced();
  if (counts[static_cast<std::size_t>(agreed)] == comm.size())
    return name + (forced ? " (METAGMM_ISA)" : comm.size() == 1 ? " (the highest this processor supports)"
                                                                 : " (the highest every rank supports)");
  return name + " (the lowest of the ranks' levels: " + describe_counts(counts) + ")";
}

std::string keep_checkpoint_isa(const task::Provenance& recorded, const std::string& agreed, std::string& warning) {
  if (!recorded.isa) return agreed;  // a checkpoint of an older build: nothing to keep
  const std::string& wanted = *recorded.isa;
  const auto level = parse_isa_level(wanted);
  const IsaLevel current = gmm::kernels().level;
  if (level && *level == current) return agreed + ", as the checkpoint";
  const std::string differ = "; results may differ from an uninterrupted run in the last bits";
  if (isa_forced()) {
    warning = "the checkpoint was computed with " + wanted + " kernels, METAGMM_ISA asks for " +
              std::string(to_string(current)) + differ;
    return agreed;
  }
  if (level && gmm::compiled_kernels(*level) && *level < current) {
    gmm::use_kernels(*level);  // every rank runs the levels below the agreed one
    return std::string(to_string(*level)) + " (the checkpoint's level)";
  }
  warning = "the checkpoint was computed with " + wanted + " kernels, which " +
            (level && gmm::compiled_kernels(*level) ? std::string("not every rank of this job supports")
                                                    : std::string("this build lacks")) +
            "; continuing with " + std::string(to_string(current)) + differ;
  return agreed;
}

}  // namespace metagmm::cli
