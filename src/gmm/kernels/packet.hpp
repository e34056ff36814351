#pragma once
// Packets of doubles at this kernel level's width, and exp() of many numbers at once:
// non-positive ones for the log-sum-exp of the E-step, and precisions from log standard
// deviations. Private to src/gmm/kernels/kernels.cpp, inside its level's namespace.
//
// Eigen's vectorised exp for doubles divides (a rational approximation); division is slow on
// these processors, and the E-step takes one exp per point and component. This one reduces
// x = k ln 2 + r with |r| <= ln(2)/2, evaluates the degree-12 Taylor polynomial of exp(r) by
// Horner's rule (truncation below 2e-16 relative), and scales by 2^k through the exponent
// bits: only multiplies and adds, which the compiler vectorises.
//
// Arguments below -708 give exp(-708) ~ 3e-308 rather than a subnormal or zero: inputs here
// are log-densities minus their row maximum, where such terms are below rounding of the sum.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "metagmm/core/isa.hpp"

#ifndef METAGMM_KERNEL_LEVEL
#error "packet.hpp belongs to the kernels, compiled once per level (src/gmm/kernels/kernels.cpp)"
#endif

namespace metagmm::kernels::METAGMM_KERNEL_LEVEL {

using Index = std::ptrdiff_t;

// The level and packet width follow from the flags this copy is compiled with (its -march).
#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512BW__) && defined(__AVX512VL__)
inline constexpr IsaLevel kLevel = IsaLevel::avx512;
inline constexpr int kPacketWidth = 8;
#elif defined(__AVX2__) && defined(__FMA__)
inline constexpr IsaLevel kLevel = IsaLevel::avx2;
inline constexpr int kPacketWidth = 4;
#else
inline constexpr IsaLevel kLevel = IsaLevel::sse2;
inline constexpr int kPacketWidth = 2;
#endif
// A register of doubles, as a GCC vector type: arithmetic on it compiles to one vector
// instruction of this level.
typedef double Packet __attribute__((vector_size(kPacketWidth * sizeof(double))));

namespace detail {

typedef std::uint64_t PacketBits __attribute__((vector_size(kPacketWidth * sizeof(double))));

// exp of kCount packets at once. The polynomial is a chain of dependent multiply-adds; taking
// several packets in lockstep gives the processor independent chains to overlap, where one
// packet at a time leaves it waiting on each step's latency.
template <int kCount>
inline void exp_packets(Packet* x) {
  constexpr double kLog2e = 1.4426950408889634;
  // ln 2 split as fdlibm does: the high part has 32 trailing zero bits, so k * kLn2High is
  // exact for |k| < 2^20 and x - k ln 2 loses nothing, with or without fused multiply-adds.
  constexpr double kLn2High = 6.93147180369123816490e-01;
  constexpr double kLn2Low = 1.90821492927058770002e-10;
  constexpr double kRound = 6755399441055744.0;       // 1.5 * 2^52: adding it rounds to an integer
  constexpr double kLowest = -708.0;
  constexpr double kTaylor[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
                                1.0 / 40320.0,     1.0 / 5040.0,     1.0 / 720.0,     1.0 / 120.0,
                                1.0 / 24.0,        1.0 / 6.0,        0.5,             1.0,
                                1.0};
  Packet shifted[kCount], r[kCount], p[kCount];
  for (int i = 0; i < kCount; ++i) {
    const Packet v = x[i] < kLowest ? Packet{} + kLowest : x[i];
    shifted[i] = v * kLog2e + kRound;
    const Packet k = shifted[i] - kRound;
    r[i] = (v - k * kLn2High) - k * kLn2Low;
    p[i] = Packet{} + kTaylor[0];
  }
  for (int t = 1; t < 13; ++t)
    for (int i = 0; i < kCount; ++i) p[i] = p[i] * r[i] + kTaylor[t];
  for (int i = 0; i < kCount; ++i) {
    // `shifted` lies in [2^52, 2^53), so its mantissa is 2^51 + k: its low 12 bits are k modulo
    // 4096. Adding the exponent bias and shifting them into the exponent field gives 2^k
    // (k + 1023 is in [1, 1023] here, so the sign bit stays clear).
    const PacketBits scale_bits = (std::bit_cast<PacketBits>(shifted[i]) + 1023) << 52;
    x[i] = p[i] * std::bit_cast<Packet>(scale_bits);
  }
}

inline Packet exp_packet(Packet x) {
  exp_packets<1>(&x);
  return x;
}

// exp of `count` packets in place, four at a time.
inline void exp_packets(Packet* x, Index count) {
  Index i = 0;
  for (; i + 4 <= count; i += 4) exp_packets<4>(x + i);
  for (; i < count; ++i) exp_packets<1>(x + i);
}

}  // namespace detail

inline void exp_non_positive(double* values, Index count) {
  constexpr Index width = kPacketWidth, kTogether = 4;
  Index i = 0;
  for (; i + kTogether * width <= count; i += kTogether * width) {
    Packet x[kTogether];
    std::memcpy(x, values + i, sizeof x);
    detail::exp_packets<kTogether>(x);
    std::memcpy(values + i, x, sizeof x);
  }
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

// exp of `count` arbitrary numbers in place (a mixture's precisions from its log standard
// deviations), vectorised. Arguments are clamped to [-708, 709]: beyond, the result would
// underflow or overflow, and a precision that large or small is no model anyone fits.
inline void exp_in_place(double* values, Index count) {
  constexpr Index width = kPacketWidth;
  constexpr double kHighest = 709.0;
  auto exp_clamped = [](Packet x) {
    x = x > kHighest ? Packet{} + kHighest : x;
    return detail::exp_packet(x);
  };
  Index i = 0;
  for (; i + width <= count; i += width) {
    Packet x;
    std::memcpy(&x, values + i, sizeof x);
    x = exp_clamped(x);
    std::memcpy(values + i, &x, sizeof x);
  }
  if (i == count) return;
  // The tail lane by lane (a copy of variable length would go through memory, and slowly).
  Packet x{};
  for (Index lane = 0; lane < count - i; ++lane) x[lane] = values[i + lane];
  x = exp_clamped(x);
  for (Index lane = 0; lane < count - i; ++lane) values[i + lane] = x[lane];
}

}  // namespace metagmm::kernels::METAGMM_KERNEL_LEVEL
