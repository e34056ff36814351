// The hot kernels (gmm/kernel_table.hpp), compiled once per instruction-set level: CMake builds
// this file as metagmm_kernels_<level> with that level's -march, METAGMM_KERNEL_LEVEL=<level>
// and Eigen renamed to metagmm_eigen_<level>. Everything here lives in the level's namespace
// and calls no inline function of a header outside it (the standard library's included), so
// the linker never merges one level's code with another's; tests/cli/test_isa.py checks the
// objects' symbols. Allocation stays with the callers: the kernels work in the buffers given.
#pragma GCC diagnostic push
// GCC 12 reports Eigen's AVX-512 packet code (_mm256_undefined_pd) as maybe-uninitialized: a
// false positive inside a third-party header, which must not fail our build.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop

#include <cmath>
#include <cstring>
#include <limits>

#include "metagmm/gmm/kernel_table.hpp"
#include "packet.hpp"

namespace metagmm::kernels::METAGMM_KERNEL_LEVEL {

using gmm::FullDensityArgs;
using gmm::FusedPassArgs;
using gmm::GemmArgs;
using gmm::Kernels;

namespace {

// Groups of points whose likelihood product is taken before one log per lane: each factor
// lies in [1, K], so the product stays far from overflow (K <= 128 here).
constexpr int kGroupsPerLog = 32;
// Groups of points the fused pass takes together: their log-densities and responsibilities
// (K x kBlockGroups packets) and coordinates stay in the first-level cache.
constexpr Index kBlockGroups = 8;
// Independent chains of the full-covariance kernel: four hide the additions' latency.
constexpr Index kFullChains = 4;

constexpr Index smaller(Index a, Index b) { return a < b ? a : b; }

Index fused_scratch_packets(Index K, Index d, bool tangent) {
  const Index F = 2 * d + 1, G = kBlockGroups;
  return K * F + 2 * d * G + K * G + G + (tangent ? K * F + K * G : 0);
}

// The whole pass in registers and the first-level cache, a block of kBlockGroups groups of W
// points at a time, vectorised across points (each lane of a Packet is one point):
//   1. the block's centred points x - c and their squares, one coordinate per row;
//   2. log-densities phi(x) . C_k, one independent chain per group;
//   3. per group: log-sum-exp, responsibilities (and for kTangent the weights w);
//   4. the moment sums R^T Phi (and W^T Phi): for each component, accumulators for a few
//      coordinates at a time stay in registers across the block's groups, so each sum is
//      written once per block, not once per point.
// No per-point array is written and no operand is repacked, which is what a matrix product
// costs beyond its arithmetic at these sizes. The log-likelihood sum is taken as
// sum(max) + log(product of the normalisers), one log per lane every kGroupsPerLog groups.
template <int kDim, bool kTangent>
double fused_pass(const FusedPassArgs& a) {
  constexpr Index W = kPacketWidth, G = kBlockGroups;
  // kDim > 0: the dimension known at compile time, so the per-dimension loops unroll.
  const Index N = a.rows, d = kDim > 0 ? kDim : a.dim, K = a.components, F = 2 * d + 1;
  const bool with_statistics = a.with_statistics, sum_responsibilities = a.sum_responsibilities;
  const double* origin = a.origin;
  Packet* sums = reinterpret_cast<Packet*>(a.scratch);  // K x F accumulators of r phi
  std::memset(static_cast<void*>(sums), 0, sizeof(Packet) * static_cast<std::size_t>(fused_scratch_packets(K, d, kTangent)));
  Packet* centred = sums + K * F;        // d x G: x - c, coordinate j of group g at j * G + g
  Packet* squares = centred + d * G;     // d x G: (x - c)^2
  Packet* density = squares + d * G;     // K x G: log-densities, then responsibilities
  Packet* valid = density + K * G;       // G: 1 for lanes holding a point, else 0
  Packet block_top[G];                   // each group's largest log-density
  Packet* tangent_sums = valid + G;      // kTangent, K x F: accumulators of w phi
  Packet* tangent = tangent_sums + K * F;  // kTangent, K x G: dl, then w
  Packet max_sum{}, product = Packet{} + 1.0;
  double log_likelihood = 0.0;
  int groups_since_log = 0;
  auto take_log = [&] {
    for (Index lane = 0; lane < W; ++lane) log_likelihood += std::log(product[lane]);
    product = Packet{} + 1.0;
    groups_since_log = 0;
  };
  // sum_g weight[k][g] * phi of group g, added to the K x F sums; four coordinates at a time.
  auto accumulate = [&](const Packet* weight, Packet* into, Index groups) {
    constexpr Index kChunk = 4;
    for (Index k = 0; k < K; ++k) {
      const Packet* r = weight + k * G;
      Packet* row = into + k * F;
      Index j = 0;
      for (; j + kChunk <= d; j += kChunk) {
        Packet second[kChunk] = {}, first[kChunk] = {};
        for (Index g = 0; g < groups; ++g)
          for (Index c = 0; c < kChunk; ++c) {
            second[c] += r[g] * squares[(j + c) * G + g];
            first[c] += r[g] * centred[(j + c) * G + g];
          }
        for (Index c = 0; c < kChunk; ++c) {
          row[j + c] += second[c];
          row[d + j + c] += first[c];
        }
      }
      for (; j < d; ++j) {
        Packet second{}, first{};
        for (Index g = 0; g < groups; ++g) {
          second += r[g] * squares[j * G + g];
          first += r[g] * centred[j * G + g];
        }
        row[j] += second;
        row[d + j] += first;
      }
      Packet total{};
      for (Index g = 0; g < groups; ++g) total += r[g];
      row[F - 1] += total;
    }
  };
  // log-densities phi . C_k (or their derivatives) of the block's groups, one chain per group.
  auto evaluate = [&](const double* coefficients, Packet* out, Index groups) {
    for (Index k = 0; k < K; ++k) {
      const double* c = coefficients + k * F;
      Packet v[G];
      for (Index g = 0; g < G; ++g) v[g] = Packet{} + c[F - 1];
      for (Index j = 0; j < d; ++j)
        for (Index g = 0; g < G; ++g) {  // two multiply-adds, not a multiply, a multiply-add and an add
          v[g] += c[j] * squares[j * G + g];
          v[g] += c[d + j] * centred[j * G + g];
        }
      for (Index g = 0; g < groups; ++g) out[k * G + g] = v[g];
    }
  };
  for (Index block = 0; block < N; block += G * W) {
    const Index rows = smaller(G * W, N - block), groups = (rows + W - 1) / W;
    for (Index g = 0; g < G; ++g) {
      // Each coordinate's packet is built in a register from the W rows (writing lanes to memory
      // and reading them back as a packet would stall the loads). Lanes past the end read the
      // centre itself, so they hold zeros.
      const double* row[W];
      Packet mask{};
      for (Index lane = 0; lane < W; ++lane) {
        const Index n = block + g * W + lane;
        row[lane] = n < N ? a.points + n * a.point_stride : origin;
        mask[lane] = n < N ? 1.0 : 0.0;
      }
      valid[g] = mask;
      for (Index j = 0; j < d; ++j) {
        Packet x;
        for (Index lane = 0; lane < W; ++lane) x[lane] = row[lane][j];
        x -= origin[j];
        centred[j * G + g] = x;
        squares[j * G + g] = x * x;
      }
    }
    evaluate(a.coefficients, density, groups);
    if constexpr (kTangent) evaluate(a.tangent_coefficients, tangent, groups);
    // Each group's largest log-density, subtracted; then all the block's exps together (independent
    // chains the processor overlaps).
    for (Index g = 0; g < groups; ++g) {
      Packet top = Packet{} - std::numeric_limits<double>::infinity();
      for (Index k = 0; k < K; ++k) top = density[k * G + g] > top ? density[k * G + g] : top;
      for (Index k = 0; k < K; ++k) density[k * G + g] -= top;
      block_top[g] = top;
    }
    for (Index k = 0; k < K; ++k) detail::exp_packets(density + k * G, groups);
    for (Index g = 0; g < groups; ++g) {
      const Packet top = block_top[g];
      Packet total{};
      for (Index k = 0; k < K; ++k) total += density[k * G + g];
      // Lanes past the end count as likelihood 1 with no responsibility.
      total = valid[g] > 0.0 ? total : Packet{} + 1.0;
      max_sum += top * valid[g];
      product *= total;
      if (++groups_since_log == kGroupsPerLog) take_log();
      if (!with_statistics) continue;
      const Packet inverse = valid[g] / total;
      Packet mean_tangent{};
      for (Index k = 0; k < K; ++k) {
        density[k * G + g] *= inverse;  // the responsibility r_k
        if constexpr (kTangent) mean_tangent += density[k * G + g] * tangent[k * G + g];
      }
      if constexpr (kTangent)
        for (Index k = 0; k < K; ++k) tangent[k * G + g] = density[k * G + g] * (tangent[k * G + g] - mean_tangent);
    }
    if (!with_statistics) continue;
    if (sum_responsibilities) accumulate(density, sums, groups);
    if constexpr (kTangent) accumulate(tangent, tangent_sums, groups);
  }
  take_log();
  for (Index lane = 0; lane < W; ++lane) log_likelihood += max_sum[lane];
  if (!with_statistics) return log_likelihood;
  auto reduce_lanes = [&](const Packet* from, double* to) {
    for (Index k = 0; k < K; ++k)
      for (Index f = 0; f < F; ++f) {
        double total = 0.0;
        for (Index lane = 0; lane < W; ++lane) total += from[k * F + f][lane];
        to[k * F + f] = total;
      }
  };
  if (sum_responsibilities) reduce_lanes(sums, a.moment_sums);
  if constexpr (kTangent) reduce_lanes(tangent_sums, a.tangent_sums);
  return log_likelihood;
}

// The dimension as a template argument where it is small, for both kinds of pass.
template <bool kTangent>
double fused_pass_by_dimension(const FusedPassArgs& a) {
  switch (a.dim) {
    case 1: return fused_pass<1, kTangent>(a);
    case 2: return fused_pass<2, kTangent>(a);
    case 3: return fused_pass<3, kTangent>(a);
    case 4: return fused_pass<4, kTangent>(a);
    default: return fused_pass<0, kTangent>(a);
  }
}

double fused_pass_entry(const FusedPassArgs& a) {
  return a.tangent_coefficients ? fused_pass_by_dimension<true>(a) : fused_pass_by_dimension<false>(a);
}

std::ptrdiff_t fused_scratch_doubles(std::ptrdiff_t components, std::ptrdiff_t dim, bool tangent) {
  return fused_scratch_packets(components, dim, tangent) * kPacketWidth;
}

// |U_k^T (x - mu_k)|^2 for every point and component, vectorised across points: each lane of
// a Packet is one point, and the loops walk U_k's upper triangle, so every multiply-add is
// useful work (a dense matrix product would also multiply U's zero triangle) and the sum of
// squares never leaves the registers. Four packets go together: four independent chains of
// additions hide their latency, and each coefficient of U is loaded once for all four.
// kTangent: also the derivative along the prepared direction, -y . dy with
// dy = dU^T (x - c) - d[U^T (mu - c)], in the same loops.
template <bool kTangent>
void full_log_densities(const FullDensityArgs& a) {
  constexpr Index W = kPacketWidth, kChains = kFullChains, kSpan = W * kChains;
  const Index K = a.components, d = a.dim, rows = a.rows, pairs = d * (d + 1) / 2;
  const Index spans = (rows + kSpan - 1) / kSpan;
  for (Index span = 0; span < spans; ++span) {
    const Index first = span * kSpan;
    for (Index k = 0; k < K; ++k) {
      const double* upper = a.projection + k * a.projection_stride;
      const double* offsets = upper + pairs;
      const double* d_upper = kTangent ? a.tangent_projection + k * a.projection_stride : nullptr;
      Packet squares[kChains] = {}, cross[kChains] = {};
      for (Index j = 0, p = 0; j < d; ++j) {
        Packet y[kChains], dy[kChains];
        for (Index c = 0; c < kChains; ++c) y[c] = Packet{} - offsets[j];
        if constexpr (kTangent)
          for (Index c = 0; c < kChains; ++c) dy[c] = Packet{} - d_upper[pairs + j];
        for (Index i = 0; i <= j; ++i, ++p) {
          const double* x = a.transposed + i * a.stride + first;
          for (Index c = 0; c < kChains; ++c) {
            Packet xc;
            std::memcpy(&xc, x + c * W, sizeof xc);
            y[c] += upper[p] * xc;
            if constexpr (kTangent) dy[c] += d_upper[p] * xc;
          }
        }
        for (Index c = 0; c < kChains; ++c) squares[c] += y[c] * y[c];
        if constexpr (kTangent)
          for (Index c = 0; c < kChains; ++c) cross[c] += y[c] * dy[c];
      }
      for (Index c = 0; c < kChains; ++c)
        for (Index lane = 0; lane < W && first + c * W + lane < rows; ++lane) {
          const Index n = first + c * W + lane;
          a.log_density[n * a.density_stride + k] = a.constants[k] - 0.5 * squares[c][lane];
          if constexpr (kTangent) a.tangent_density[n * a.density_stride + k] = a.tangent_constants[k] - cross[c][lane];
        }
    }
  }
}

void full_log_densities_entry(const FullDensityArgs& a) {
  if (a.tangent_projection) {
    full_log_densities<true>(a);
  } else {
    full_log_densities<false>(a);
  }
}

void exp_non_positive_entry(double* values, std::ptrdiff_t count) { exp_non_positive(values, count); }
void exp_in_place_entry(double* values, std::ptrdiff_t count) { exp_in_place(values, count); }

// Eigen's matrix product at this level's width, on the caller's row-major arrays.
using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstView = Eigen::Map<const RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;
using View = Eigen::Map<RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;

template <typename A, typename B>
void multiply_into(const GemmArgs& g, const A& a, const B& b) {
  View c(g.c, g.m, g.n, Eigen::OuterStride<>(g.ldc));
  if (g.accumulate) {
    c.noalias() += g.alpha * (a * b);
  } else {
    c.noalias() = g.alpha * (a * b);
  }
}

// The direct product for operands that stay in the first- and second-level cache (the
// encoders' per-task products: a few hundred rows, 64 columns). Eigen's blocked product copies
// both operands into packed panels first, which at these sizes costs about as much as the
// arithmetic; here op(B)'s rows are read where they lie (contiguous, as !transpose_b asks) and
// op(A)'s entries are broadcast from wherever they lie. A tile of kTileRows x kTilePackets
// packets of C is held in registers over the whole depth. Every entry of C is one sequential
// chain of multiply-adds over k, and a band of fewer rows runs the same arithmetic per entry,
// so a row of C does not depend on the rows around it (tests/unit/kernels_test.cpp).
#if defined(__AVX512F__)
constexpr int kTileRows = 12;  // 24 accumulators of the 32 registers
#else
constexpr int kTileRows = 6;   // 12 accumulators of the 16 registers
#endif
constexpr int kTilePackets = 2;

struct DirectOperands {
  const GemmArgs& g;
  Index a_row, a_depth;  // op(A)(i, p) = a[i * a_row + p * a_depth]
};

template <int kRows, int kPackets>
void direct_tile(const DirectOperands& o, Index i0, Index j0) {
  const GemmArgs& g = o.g;
  Packet acc[kRows][kPackets] = {};
  const double* a = g.a + i0 * o.a_row;
  const double* b = g.b + j0;
  for (Index p = 0; p < g.k; ++p, a += o.a_depth, b += g.ldb) {
    Packet row[kPackets];
#pragma GCC unroll 4
    for (int q = 0; q < kPackets; ++q) std::memcpy(&row[q], b + q * kPacketWidth, sizeof(Packet));
#pragma GCC unroll 16
    for (int r = 0; r < kRows; ++r) {
      const double scalar = a[r * o.a_row];
#pragma GCC unroll 4
      for (int q = 0; q < kPackets; ++q) acc[r][q] += scalar * row[q];
    }
  }
  for (int r = 0; r < kRows; ++r)
    for (int q = 0; q < kPackets; ++q) {
      double* c = g.c + (i0 + r) * g.ldc + j0 + q * kPacketWidth;
      Packet out = g.alpha * acc[r][q];
      if (g.accumulate) {
        Packet old;
        std::memcpy(&old, c, sizeof(Packet));
        out += old;
      }
      std::memcpy(c, &out, sizeof(Packet));
    }
}

// The last columns, fewer than a packet: the same chain of multiply-adds, one lane at a time.
template <int kRows>
void direct_tile_narrow(const DirectOperands& o, Index i0, Index j0) {
  const GemmArgs& g = o.g;
  for (Index j = j0; j < g.n; ++j) {
    double acc[kRows] = {};
    const double* a = g.a + i0 * o.a_row;
    const double* b = g.b + j;
    for (Index p = 0; p < g.k; ++p, a += o.a_depth, b += g.ldb)
      for (int r = 0; r < kRows; ++r) acc[r] += a[r * o.a_row] * *b;
    for (int r = 0; r < kRows; ++r) {
      double& c = g.c[(i0 + r) * g.ldc + j];
      c = g.accumulate ? c + g.alpha * acc[r] : g.alpha * acc[r];
    }
  }
}

// One band of kRows rows across all columns: full tiles, then one packet, then single lanes.
template <int kRows>
void direct_band(const DirectOperands& o, Index i0) {
  constexpr Index kTileColumns = kTilePackets * kPacketWidth;
  Index j = 0;
  for (; j + kTileColumns <= o.g.n; j += kTileColumns) direct_tile<kRows, kTilePackets>(o, i0, j);
  for (; j + kPacketWidth <= o.g.n; j += kPacketWidth) direct_tile<kRows, 1>(o, i0, j);
  if (j < o.g.n) direct_tile_narrow<kRows>(o, i0, j);
}

// The rows left below the last full band, as one narrower band (1 <= rows < kTileRows).
template <int kRows>
void direct_last_band(const DirectOperands& o, Index i0, Index rows) {
  if constexpr (kRows > 0) {
    if (rows == kRows) return direct_band<kRows>(o, i0);
    direct_last_band<kRows - 1>(o, i0, rows);
  }
}

void direct_gemm(const GemmArgs& g) {
  const DirectOperands o{g, g.transpose_a ? 1 : g.lda, g.transpose_a ? g.lda : 1};
  Index i = 0;
  for (; i + kTileRows <= g.m; i += kTileRows) direct_band<kTileRows>(o, i);
  if (i < g.m) direct_last_band<kTileRows - 1>(o, i, g.m - i);
}

// A transposed B of at most this many entries is copied row-major onto the stack (64 KiB) for
// the direct product; a larger one goes to Eigen.
constexpr Index kDirectTransposed = 8192;

void gemm_entry(const GemmArgs& g) {
  if (g.in_cache && !g.transpose_b) return direct_gemm(g);
  if (g.in_cache && g.k * g.n <= kDirectTransposed) {
    double rows[kDirectTransposed];  // op(B) = B^T, k x n
    for (Index p = 0; p < g.k; ++p)
      for (Index j = 0; j < g.n; ++j) rows[p * g.n + j] = g.b[j * g.ldb + p];
    GemmArgs direct = g;
    direct.transpose_b = false;
    direct.b = rows;
    direct.ldb = g.n;
    return direct_gemm(direct);
  }
  const ConstView a(g.a, g.transpose_a ? g.k : g.m, g.transpose_a ? g.m : g.k, Eigen::OuterStride<>(g.lda));
  const ConstView b(g.b, g.transpose_b ? g.n : g.k, g.transpose_b ? g.k : g.n, Eigen::OuterStride<>(g.ldb));
  if (g.transpose_a && g.transpose_b) {
    multiply_into(g, a.transpose(), b.transpose());
  } else if (g.transpose_a) {
    multiply_into(g, a.transpose(), b);
  } else if (g.transpose_b) {
    multiply_into(g, a, b.transpose());
  } else {
    multiply_into(g, a, b);
  }
}

}  // namespace

// Constant-initialised: no code of this level runs before the level is chosen.
extern constinit const Kernels table{kLevel,
                                     kPacketWidth,
                                     fused_pass_entry,
                                     fused_scratch_doubles,
                                     full_log_densities_entry,
                                     kPacketWidth * kFullChains,
                                     exp_non_positive_entry,
                                     exp_in_place_entry,
                                     gemm_entry};

}  // namespace metagmm::kernels::METAGMM_KERNEL_LEVEL
