#pragma once
// The hot kernels of one instruction-set level, as a table of plain functions on raw arrays.
//
// src/gmm/kernels/kernels.cpp is compiled once per level (x86-64, -v3, -v4, or -march=native),
// each copy in its own namespace and with Eigen renamed to a namespace of its own, so no
// function of one level can stand in for another's at link time (tested: the kernels' objects
// define no symbol outside their level's namespaces). The rest of the program is built for
// the baseline and reaches the kernels only through this table (gmm/kernels.hpp chooses it).
// Nothing here includes Eigen: the table is the same type in every translation unit.
#include <cstddef>

#include "metagmm/core/isa.hpp"

namespace metagmm::gmm {

// Scratch and point buffers handed to kernels are aligned to this (the widest packet).
inline constexpr std::size_t kKernelAlignment = 64;

// The fused statistics pass of a diag or spherical mixture (gmm/stats.hpp): features
// phi(x) = [(x - c)^2 | x - c | 1], F = 2d + 1 columns.
struct FusedPassArgs {
  const double* points = nullptr;  // rows x dim, row-major, rows point_stride doubles apart
  std::ptrdiff_t rows = 0, dim = 0, point_stride = 0;
  const double* origin = nullptr;  // dim: the centre c
  std::ptrdiff_t components = 0;
  const double* coefficients = nullptr;          // K x F row-major: log-density = phi . C_k
  const double* tangent_coefficients = nullptr;  // K x F, their derivative; null: no tangent
  bool with_statistics = false;       // form responsibilities (and the tangent's weights)
  bool sum_responsibilities = false;  // sum R^T phi into moment_sums
  double* moment_sums = nullptr;      // K x F, overwritten when sum_responsibilities
  double* tangent_sums = nullptr;     // K x F, overwritten when tangent
  double* scratch = nullptr;          // fused_scratch_doubles(K, dim, tangent) doubles, aligned
};

// Log-densities of a full-covariance mixture from |U_k^T (x - mu_k)|^2 (gmm/stats.hpp).
struct FullDensityArgs {
  const double* transposed = nullptr;  // dim x stride: centred coordinates, one per row
  std::ptrdiff_t stride = 0;           // a multiple of full_span; columns past `rows` are zero
  std::ptrdiff_t rows = 0, dim = 0, components = 0;
  const double* projection = nullptr;  // K x (pairs + dim): U_k's upper triangle by columns, U_k^T (mu_k - c)
  std::ptrdiff_t projection_stride = 0;
  const double* constants = nullptr;   // K
  const double* tangent_projection = nullptr;  // as projection; null: no tangent
  const double* tangent_constants = nullptr;
  double* log_density = nullptr;       // rows x K, rows density_stride apart
  double* tangent_density = nullptr;
  std::ptrdiff_t density_stride = 0;
};

// C = alpha op(A) op(B) (+ C if accumulate), every matrix row-major with the given row
// strides; op transposes where asked. C is m x n, op(A) m x k, op(B) k x n.
struct GemmArgs {
  bool transpose_a = false, transpose_b = false, accumulate = false;
  // The operands fit in the first- and second-level cache (a few hundred rows of tens of
  // columns): multiplied where they lie (a transposed B of up to 8192 entries copied first)
  // rather than through Eigen's packed panels, each entry of C one sequential chain over k.
  bool in_cache = false;
  std::ptrdiff_t m = 0, n = 0, k = 0;
  double alpha = 1.0;
  const double* a = nullptr;
  std::ptrdiff_t lda = 0;
  const double* b = nullptr;
  std::ptrdiff_t ldb = 0;
  double* c = nullptr;
  std::ptrdiff_t ldc = 0;
};

struct Kernels {
  IsaLevel level;
  int packet_width;  // doubles per packet
  // Returns the pass's log-likelihood sum.
  double (*fused_pass)(const FusedPassArgs& args);
  std::ptrdiff_t (*fused_scratch_doubles)(std::ptrdiff_t components, std::ptrdiff_t dim, bool tangent);
  void (*full_log_densities)(const FullDensityArgs& args);
  std::ptrdiff_t full_span;  // points the full-covariance kernel takes together
  // exp in place of numbers <= 0 (arguments below -708 give exp(-708)).
  void (*exp_non_positive)(double* values, std::ptrdiff_t count);
  // exp in place of any numbers, clamped to [-708, 709].
  void (*exp_in_place)(double* values, std::ptrdiff_t count);
  void (*gemm)(const GemmArgs& args);
};

}  // namespace metagmm::gmm
