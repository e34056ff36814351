#include "metagmm/core/isa.hpp"

namespace metagmm {

std::string_view to_string(IsaLevel level) {
  switch (level) {
    case IsaLevel::sse2: return "sse2";
    case IsaLevel::avx2: return "avx2";
    case IsaLevel::avx512: return "avx512";
  }
  return "unknown";
}

std::optional<IsaLevel> parse_isa_level(std::string_view text) {
  for (int i = 0; i < kIsaLevelCount; ++i) {
    const auto level = static_cast<IsaLevel>(i);
    if (text == to_string(level)) return level;
  }
  return std::nullopt;
}

bool processor_supports(IsaLevel level) {
  // libgcc's model of the processor, which also checks that the operating system saves the
  // AVX and AVX-512 registers (XGETBV), as the levels' names in GCC's -march mean them.
  __builtin_cpu_init();
  switch (level) {
    case IsaLevel::sse2: return true;  // every x86-64 processor
    case IsaLevel::avx2: return __builtin_cpu_supports("x86-64-v3");
    case IsaLevel::avx512: return __builtin_cpu_supports("x86-64-v4");
  }
  return false;
}

std::vector<IsaLevel> supported_isa_levels() {
  std::vector<IsaLevel> levels;
  for (int i = 0; i < kIsaLevelCount; ++i)
    if (processor_supports(static_cast<IsaLevel>(i))) levels.push_back(static_cast<IsaLevel>(i));
  return levels;
}

std::string join_isa_levels(const std::vector<IsaLevel>& levels) {
  std::string joined;
  for (const IsaLevel level : levels) {
    if (!joined.empty()) joined += ' ';
    joined += to_string(level);
  }
  return joined;
}

}  // namespace metagmm
