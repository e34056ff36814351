#pragma once
// Instruction-set levels of the hot kernels (gmm/kernels.hpp). The program itself is built for
// x86-64-v3 (AVX2 and FMA); the kernels are compiled once per level and one level is chosen
// at start-up from what the processor supports (or METAGMM_ISA). Kernels of different widths
// sum in different orders, so results agree across levels only to rounding; the same level
// gives the same bits on any processor that runs it. See docs/portable-build.md.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace metagmm {

// Ordered: a higher level needs every instruction of the lower ones.
enum class IsaLevel : int {
  sse2 = 0,    // x86-64 baseline, 128-bit packets (2 doubles)
  avx2 = 1,    // x86-64-v3: AVX2 and FMA, 256-bit packets (4 doubles)
  avx512 = 2,  // x86-64-v4: AVX-512 F/BW/CD/DQ/VL, 512-bit packets (8 doubles)
};
inline constexpr int kIsaLevelCount = 3;

std::string_view to_string(IsaLevel level);
// "sse2", "avx2" or "avx512"; nothing for any other text.
std::optional<IsaLevel> parse_isa_level(std::string_view text);
// Whether this processor (and its operating system, for the AVX-512 register state) runs
// code of `level`, by cpuid.
bool processor_supports(IsaLevel level);
// The levels this processor supports, lowest first.
std::vector<IsaLevel> supported_isa_levels();
// Level names joined by spaces ("sse2 avx2").
std::string join_isa_levels(const std::vector<IsaLevel>& levels);

}  // namespace metagmm
