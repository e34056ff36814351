#include "metagmm/core/exact_sum.hpp"

#include <cmath>

namespace metagmm::exact {

bool accumulate(double x, std::int64_t* limbs) {
  if (x == 0.0) return true;
  if (!std::isfinite(x) || std::fabs(x) >= kLimit) return false;
  int exponent = 0;
  const double fraction = std::frexp(std::fabs(x), &exponent);  // |x| = fraction * 2^exponent
  std::uint64_t mantissa = static_cast<std::uint64_t>(std::ldexp(fraction, 53));  // exact
  int shift = exponent - 53 + kFractionBits;  // X = mantissa * 2^shift
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

double to_double(const std::int64_t* limbs) {
  std::int64_t normal[kLimbs];
  for (int j = 0; j < kLimbs; ++j) normal[j] = limbs[j];
  // Every limb but the top into [0, 2^32), carrying up (>> is floor division in C++20).
  for (int j = 0; j + 1 < kLimbs; ++j) {
    const std::int64_t carry = normal[j] >> 32;
    normal[j] -= carry * (std::int64_t{1} << 32);
    normal[j + 1] += carry;
  }
  // Each term is exact in a double; adding from the most significant keeps the error within
  // an ulp of the total.
  double value = 0.0;
  for (int j = kLimbs - 1; j >= 0; --j) value += std::ldexp(static_cast<double>(normal[j]), 32 * j - kFractionBits);
  return value;
}

}  // namespace metagmm::exact
