#pragma once
// Sums of doubles whose result does not depend on the order of the additions, so that the
// training loop's reduction gives the same bits on any number of ranks (DESIGN.md section 4).
//
// Each value is turned into a fixed-point integer X = x * 2^112 (|x| < 2^79 is required; bits
// below 2^-112 are dropped, so values of magnitude 2^-59 and above are held exactly), held as kLimbs signed 64-bit limbs of 32 bits each. Adding limbs is
// integer addition, which is associative: any grouping of the same values, on one rank or
// across many by an integer MPI_Allreduce, gives identical limbs, and so an identical double
// when converted back. Each limb has 31 bits of headroom: up to 2^30 values per sum.
#include <cstdint>

namespace metagmm::exact {

inline constexpr int kLimbs = 6;
inline constexpr int kFractionBits = 112;
inline constexpr double kLimit = 0x1p79;  // |x| must be below this

// Adds x to the fixed-point sum in limbs[0..kLimbs). Returns false (adding nothing) if x is
// NaN, infinite or too large.
bool accumulate(double x, std::int64_t* limbs);

// The sum held by limbs[0..kLimbs) (carries need not be propagated), as the nearest double up
// to one unit in the last place; the same limbs always give the same double.
double to_double(const std::int64_t* limbs);

}  // namespace metagmm::exact
