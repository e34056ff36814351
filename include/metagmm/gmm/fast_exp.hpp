#pragma once
// exp() of many non-positive numbers at once, for the log-sum-exp of the E-step.
//
// Eigen's vectorised exp for doubles divides (a rational approximation); division is slow on
// this processor, and the E-step takes one exp per point and component. This one reduces
// x = k ln 2 + r with |r| <= ln(2)/2, evaluates the degree-12 Taylor polynomial of exp(r) by
// Horner's rule (truncation below 2e-16 relative), and scales by 2^k through the exponent
// bits: only multiplies and adds, which the compiler vectorises.
//
// Arguments below -708 give exp(-708) ~ 3e-308 rather than a subnormal or zero: inputs here
// are log-densities minus their row maximum, where such terms are below rounding of the sum.
#include <bit>
#include <cstdint>
#include <cstring>

#include "metagmm/core/types.hpp"

namespace metagmm::gmm {

// A register of doubles at the widest width the build targets (AVX-512 or AVX2), as a GCC
// vector type: arithmetic on it compiles to one vector instruction.
#if defined(__AVX512F__)
inline constexpr int kPacketWidth = 8;
#else
inline constexpr int kPacketWidth = 4;
#endif
typedef double Packet __attribute__((vector_size(kPacketWidth * sizeof(double))));

namespace detail {

typedef std::uint64_t PacketBits __attribute__((vector_size(kPacketWidth * sizeof(double))));

inline Packet exp_packet(Packet x) {
  constexpr double kLog2e = 1.4426950408889634;
  // ln 2 split as fdlibm does: the high part has 32 trailing zero bits, so k * kLn2High is
  // exact for |k| < 2^20 and x - k ln 2 loses nothing, with or without fused multiply-adds.
  constexpr double kLn2High = 6.93147180369123816490e-01;
  constexpr double kLn2Low = 1.90821492927058770002e-10;
  constexpr double kRound = 6755399441055744.0;       // 1.5 * 2^52: adding it rounds to an integer
  constexpr double kLowest = -708.0;
  x = x < kLowest ? Packet{} + kLowest : x;
  const Packet shifted = x * kLog2e + kRound;
  const Packet k = shifted - kRound;
  const Packet r = (x - k * kLn2High) - k * kLn2Low;
  Packet p = Packet{} + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  // `shifted` lies in [2^52, 2^53), so its mantissa is 2^51 + k: its low 12 bits are k modulo
  // 4096. Adding the exponent bias and shifting them into the exponent field gives 2^k
  // (k + 1023 is in [1, 1023] here, so the sign bit stays clear).
  const PacketBits scale_bits = (std::bit_cast<PacketBits>(shifted) + 1023) << 52;
  return p * std::bit_cast<Packet>(scale_bits);
}

}  // namespace detail

inline void exp_non_positive(double* values, Index count) {
  constexpr Index width = kPacketWidth;
  Index i = 0;
  for (; i + width <= count; i += width) {
    Packet x;
    std::memcpy(&x, values + i, sizeof x);
    x = detail::exp_packet(x);
    std::memcpy(values + i, &x, sizeof x);
  }
  if (i < count) {
    Packet x{};
    std::memcpy(&x, values + i, sizeof(double) * static_cast<size_t>(count - i));
    x = detail::exp_packet(x);
    std::memcpy(values + i, &x, sizeof(double) * static_cast<size_t>(count - i));
  }
}

}  // namespace metagmm::gmm
