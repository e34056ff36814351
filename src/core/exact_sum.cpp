#include "metagmm/core/exact_sum.hpp"

#include <bit>
#include <cmath>

namespace metagmm::exact {

bool accumulate(double x, std::int64_t* limbs) {
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
  for (int j = kLimbs - 1; j >= 0; --j) {
    // 2^(32 j - kFractionBits), exact; multiplying by it is exact too.
    const double weight = std::bit_cast<double>(static_cast<std::uint64_t>(1023 + 32 * j - kFractionBits) << 52);
    value += static_cast<double>(normal[j]) * weight;
  }
  return value;
}

}  // namespace metagmm::exact
