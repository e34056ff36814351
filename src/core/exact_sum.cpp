#include "metagmm/core/exact_sum.hpp"

#include <bit>
#include <cmath>

namespace metagmm::exact {

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
