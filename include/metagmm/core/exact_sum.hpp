#pragma once
// Sums of doubles whose result does not depend on the order of the additions, so that the
// training loop's reduction gives the same bits on any number of ranks (docs/design.md, "Determinism").
//
// Each value is turned into a fixed-point integer X = x * 2^112 (|x| < 2^79 is required; bits
// below 2^-112 are dropped, so values of magnitude 2^-59 and above are held exactly), held as kLimbs signed 64-bit limbs of 32 bits each. Adding limbs is
// integer addition, which is associative: any grouping of the same values, on one rank or
// across many by an integer MPI_Allreduce, gives identical limbs, and so an identical double
// when converted back. Each limb has 31 bits of headroom: up to 2^30 values per sum.
#include <bit>
#include <cmath>
#include <cstdint>

namespace metagmm::exact {

inline constexpr int kLimbs = 6;
inline constexpr int kFractionBits = 112;
inline constexpr double kLimit = 0x1p79;  // |x| must be below this

// Adds x to the fixed-point sum in limbs[0..kLimbs). Returns false (adding nothing) if x is
// NaN, infinite or too large. Inline: the training loop calls it for every value of every
// task's contribution.
inline bool accumulate(double x, std::int64_t* limbs) {
  if (x == 0.0) return true;
  if (!std::isfinite(x) || std::fabs(x) >= kLimit) return false;
  // |x| = mantissa * 2^exponent, read from the bits (frexp and ldexp cost more than the rest).
  const auto bits = std::bit_cast<std::uint64_t>(x);
  const int biased = static_cast<int>((bits >> 52) & 0x7ff);
  std::uint64_t mantissa = bits & ((std::uint64_t{1} << 52) - 1);
  int exponent = -1074;  // subnormal
  if (biased != 0) {
    mantissa |= std::uint64_t{1} << 52;
    exponent = biased - 1075;
  }
  int shift = exponent + kFractionBits;  // X = mantissa * 2^shift
  if (shift < 0) {
    if (shift <= -64) return true;  // below the resolution
    mantissa >>= -shift;
    shift = 0;
  }
  const int limb = shift / 32;
  const unsigned __int128 wide = static_cast<unsigned __int128>(mantissa) << (shift % 32);  // < 2^85
  const std::int64_t sign = x < 0 ? -1 : 1;
  for (int piece = 0; piece < 3 && limb + piece < kLimbs; ++piece) {
    const auto bits = static_cast<std::uint64_t>(wide >> (32 * piece)) & 0xffffffffULL;
    limbs[limb + piece] += sign * static_cast<std::int64_t>(bits);
  }
  return true;
}

// The sum held by limbs[0..kLimbs) (carries need not be propagated), as the nearest double up
// to one unit in the last place; the same limbs always give the same double.
double to_double(const std::int64_t* limbs);

}  // namespace metagmm::exact
