#include "metagmm/gmm/stats.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/fast_exp.hpp"

namespace metagmm::gmm {
namespace {

// About 128 KiB of features per block: with the log-densities (and for full covariances the
// projections) they stay in L2.
constexpr Index kBlockDoubles = 1 << 14;
constexpr Index kMaxBlockRows = 256;
constexpr Index kMinBlockRows = 16;
// The fused pass serves diag/spherical mixtures with K x F up to this (K = 16, d = 32: 1040),
// where its K x F packet accumulators (two sets for a tangent pass) stay in the second-level
// cache; it beats the matrix products there (measured: K = 8, d = 16, N = 200 and
// K = 16, d = 16, N = 100000, tools/bench). Beyond, the products' arithmetic dominates.
constexpr Index kMaxFusedCoefficients = 1100;
// Groups of points whose likelihood product is taken before one log per lane: each factor
// lies in [1, K], so the product stays far from overflow (K <= 128 here).
constexpr int kGroupsPerLog = 32;
// Groups of points the fused pass takes together: their log-densities and responsibilities
// (K x kBlockGroups packets) and coordinates stay in the first-level cache.
constexpr Index kBlockGroups = 8;
const double kLogTwoPi = std::log(2.0 * std::numbers::pi);

template <typename M>
void grow(M& buffer, Index rows, Index cols) {
  if (buffer.rows() < rows || buffer.cols() != cols) buffer.resize(std::max(rows, buffer.rows()), cols);
}

Index pair_count(Index d) { return d * (d + 1) / 2; }

// Columns of phi: quadratic terms, then d linear terms, then the constant 1.
Index feature_count(const GmmShape& s) {
  return (s.covariance == CovarianceType::full ? pair_count(s.dim) : s.dim) + s.dim + 1;
}

}  // namespace

void Evaluator::prepare_diagonal(const Gmm& gmm, const Vector& log_weights) {
  const Index K = gmm.shape.components, d = gmm.shape.dim, F = 2 * d + 1;
  coefficients_.resize(K, F);
  const bool diag = gmm.shape.covariance == CovarianceType::diag;
  // Precisions exp(-2 log sd), all at once (vectorised: one scalar exp each cost more than the
  // rest of the set-up). Then scalar loops: called once per pass, and for small mixtures
  // per-expression temporaries would cost more than the arithmetic.
  precision_ = -2.0 * gmm.log_sd;
  exp_in_place(precision_.data(), precision_.size());
  for (Index k = 0; k < K; ++k) {
    double* c = coefficients_.row(k).data();
    double constant = log_weights[k] - 0.5 * static_cast<double>(d) * kLogTwoPi;
    for (Index j = 0; j < d; ++j) {
      const double log_sd = gmm.log_sd(k, diag ? j : 0);
      const double precision = precision_(k, diag ? j : 0);
      const double offset = gmm.means(k, j) - origin_[j];
      // -(x - mu)^2 P / 2 = -(x - c)^2 P / 2 + (x - c) P (mu - c) - (mu - c)^2 P / 2
      c[j] = -0.5 * precision;
      c[d + j] = precision * offset;
      constant -= log_sd + 0.5 * precision * offset * offset;
    }
    c[F - 1] = constant;
  }
}

void Evaluator::prepare_full(const Gmm& gmm, const Vector& log_weights) {
  // Log-densities come from |U^T (x - mu)|^2 (full_log_densities), a sum of squares:
  // expanding the quadratic form through Lambda = U U^T instead would cancel terms as large as
  // |x - c|^2 |Lambda|, which loses digits when Lambda is badly conditioned (tested in
  // d = 256). The pair features serve only the statistics.
  const Index K = gmm.shape.components, d = gmm.shape.dim, pairs = pair_count(d);
  // Per component: U's upper triangle column by column (column j holds U_0j .. U_jj), then
  // the offsets U^T (mu - c), so that U^T (x - mu) = U^T (x - c) - U^T (mu - c).
  projection_.resize(K, pairs + d);
  projection_constants_.resize(K);
  for (Index k = 0; k < K; ++k) {
    const Matrix& u = gmm.prec_chol[k];
    for (Index j = 0, p = 0; j < d; ++j)
      for (Index i = 0; i <= j; ++i) projection_(k, p++) = u(i, j);
    projection_.row(k).tail(d) = (gmm.means.row(k) - origin_) * u.triangularView<Eigen::Upper>();
    projection_constants_[k] = log_weights[k] + u.diagonal().array().log().sum() - 0.5 * static_cast<double>(d) * kLogTwoPi;
  }
}

// The derivatives of the coefficients above along a direction v of the flat parameters (the
// centre c held fixed). With P = exp(-2 log sd), dP = -2 P v_sd, and d log pi_k = v_ak - pi . v_a.
void Evaluator::prepare_diagonal_tangent(const Gmm& gmm, const Vector& v, double mean_logit) {
  const Index K = gmm.shape.components, d = gmm.shape.dim, F = 2 * d + 1;
  const bool diag = gmm.shape.covariance == CovarianceType::diag;
  tangent_coefficients_.resize(K, F);
  for (Index k = 0; k < K; ++k) {
    double* t = tangent_coefficients_.row(k).data();
    double constant = v[k] - mean_logit;
    for (Index j = 0; j < d; ++j) {
      const Index sd = K + K * d + (diag ? k * d + j : k);
      const double precision = precision_(k, diag ? j : 0);  // from prepare_diagonal
      const double offset = gmm.means(k, j) - origin_[j];
      const double d_precision = -2.0 * precision * v[sd], d_mean = v[K + k * d + j];
      t[j] = -0.5 * d_precision;
      t[d + j] = d_precision * offset + precision * d_mean;
      constant -= v[sd] + 0.5 * d_precision * offset * offset + precision * offset * d_mean;
    }
    t[F - 1] = constant;
  }
}

// dU has the direction's entries above the diagonal and U_jj v_jj on it (the flat vector holds
// log U_jj); U^T (mu - c) moves by dU^T (mu - c) + U^T v_mu.
void Evaluator::prepare_full_tangent(const Gmm& gmm, const Vector& v, double mean_logit) {
  const Index K = gmm.shape.components, d = gmm.shape.dim, pairs = pair_count(d);
  tangent_projection_.resize(K, pairs + d);
  tangent_constants_.resize(K);
  Matrix du(d, d);
  for (Index k = 0; k < K; ++k) {
    const Matrix& u = gmm.prec_chol[k];
    du.setZero();
    double constant = v[k] - mean_logit;
    for (Index i = 0, p = K + K * d + k * pairs; i < d; ++i)
      for (Index j = i; j < d; ++j, ++p) {
        du(i, j) = i == j ? u(i, i) * v[p] : v[p];
        if (i == j) constant += v[p];
      }
    for (Index j = 0, p = 0; j < d; ++j)
      for (Index i = 0; i <= j; ++i) tangent_projection_(k, p++) = du(i, j);
    tangent_projection_.row(k).tail(d) = (gmm.means.row(k) - origin_) * du +
                                         v.segment(K + k * d, d).transpose() * u.triangularView<Eigen::Upper>();
    tangent_constants_[k] = constant;
  }
}

void Evaluator::prepare(const Gmm& gmm, RowMatrixRef points, const Vector* direction) {
  const GmmShape& s = gmm.shape;
  METAGMM_CHECK(points.cols() == s.dim, "points and mixture disagree on the dimension");
  METAGMM_CHECK(points.rows() > 0, "an empty point set has no likelihood");
  const Vector log_weights = gmm.log_weights();
  // Centring on the mixture's mean keeps the expanded sums' cancellation at
  // eps * (spread of the components / sigma)^2, whatever the data's offset or order.
  origin_ = log_weights.array().exp().matrix().transpose() * gmm.means;
  if (s.covariance == CovarianceType::full) {
    prepare_full(gmm, log_weights);
  } else {
    prepare_diagonal(gmm, log_weights);
  }
  if (direction) {
    METAGMM_CHECK(direction->size() == s.parameter_count(), "direction and mixture disagree on the parameter count");
    // pi . v_a: the logits' share of every d log pi_k = v_ak - pi . v_a.
    const double mean_logit = log_weights.array().exp().matrix().dot(direction->head(s.components));
    if (s.covariance == CovarianceType::full) {
      prepare_full_tangent(gmm, *direction, mean_logit);
    } else {
      prepare_diagonal_tangent(gmm, *direction, mean_logit);
    }
  }
}

// The buffers of the blocked pass (the fused pass needs none of them).
void Evaluator::prepare_blocks(const GmmShape& s, bool tangent) {
  const Index K = s.components, F = feature_count(s);
  block_rows_ = std::clamp(kBlockDoubles / F, kMinBlockRows, kMaxBlockRows);
  grow(features_, block_rows_, F);
  features_.col(F - 1).setOnes();  // blocks overwrite only the other columns
  grow(log_density_, block_rows_, K);
  if (tangent) grow(tangent_density_, block_rows_, K);
  grow(row_max_, block_rows_, 1);
  grow(row_total_, block_rows_, 1);
  grow(row_log_likelihood_, block_rows_, 1);
}

void Evaluator::block_log_densities(const Gmm& gmm, RowMatrixRef block, Output output) {
  const Index rows = block.rows(), d = gmm.shape.dim, F = features_.cols(), linear = F - d - 1;
  const bool full = gmm.shape.covariance == CovarianceType::full, tangent = with_tangent(output);
  const bool pairs = full && with_statistics(output);  // full needs x x^T features only for statistics
  // Plain loops over each row: with few dimensions, per-row expression set-up would cost more
  // than the arithmetic.
  for (Index r = 0; r < rows; ++r) {
    double* phi = features_.row(r).data();
    double* centered = phi + linear;
    const double* x = block.row(r).data();
    for (Index j = 0; j < d; ++j) centered[j] = x[j] - origin_[j];
    if (pairs) {
      for (Index i = 0, p = 0; i < d; ++i)
        for (Index j = i; j < d; ++j) phi[p++] = centered[i] * centered[j];
    } else if (!full) {
      for (Index j = 0; j < d; ++j) phi[j] = centered[j] * centered[j];
    }
  }
  if (full) {
    if (tangent) {
      full_log_densities<true>(gmm, rows);
    } else {
      full_log_densities<false>(gmm, rows);
    }
    return;
  }
  log_density_.topRows(rows).noalias() = features_.topRows(rows) * coefficients_.transpose();
  if (tangent) tangent_density_.topRows(rows).noalias() = features_.topRows(rows) * tangent_coefficients_.transpose();
}

template <bool kTangent>
void Evaluator::full_log_densities(const Gmm& gmm, Index rows) {
  // |U_k^T (x - mu_k)|^2 for every point and component, vectorised across points: each lane of
  // a Packet is one point, and the loops walk U_k's upper triangle, so every multiply-add is
  // useful work (a dense matrix product would also multiply U's zero triangle) and the sum of
  // squares never leaves the registers. Four packets go together: four independent chains of
  // additions hide their latency, and each coefficient of U is loaded once for all four.
  // kTangent: also the derivative along the prepared direction, -y . dy with
  // dy = dU^T (x - c) - d[U^T (mu - c)], in the same loops.
  constexpr Index W = kPacketWidth, kChains = 4, kSpan = W * kChains;
  const Index K = gmm.shape.components, d = gmm.shape.dim, pairs = pair_count(d);
  const Index spans = (rows + kSpan - 1) / kSpan, stride = spans * kSpan;
  // The block's centred points, transposed: row i holds coordinate i of every point, so
  // consecutive points' coordinates load as one Packet. Padding columns stay zero.
  grow(transposed_, d, stride);
  const Index linear = features_.cols() - d - 1;
  transposed_.leftCols(rows) = features_.topRows(rows).middleCols(linear, d).transpose();
  transposed_.middleCols(rows, stride - rows).setZero();
  for (Index span = 0; span < spans; ++span) {
    const Index first = span * kSpan;
    for (Index k = 0; k < K; ++k) {
      const double* upper = projection_.row(k).data();
      const double* offsets = upper + pairs;
      const double* d_upper = kTangent ? tangent_projection_.row(k).data() : nullptr;
      Packet squares[kChains] = {}, cross[kChains] = {};
      for (Index j = 0, p = 0; j < d; ++j) {
        Packet y[kChains], dy[kChains];
        for (Index c = 0; c < kChains; ++c) y[c] = Packet{} - offsets[j];
        if constexpr (kTangent)
          for (Index c = 0; c < kChains; ++c) dy[c] = Packet{} - d_upper[pairs + j];
        for (Index i = 0; i <= j; ++i, ++p) {
          const double* x = &transposed_(i, first);
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
          log_density_(first + c * W + lane, k) = projection_constants_[k] - 0.5 * squares[c][lane];
          if constexpr (kTangent) tangent_density_(first + c * W + lane, k) = tangent_constants_[k] - cross[c][lane];
        }
    }
  }
}

void Evaluator::finish_block(Index start, Index rows, Output output) {
  // Log-sum-exp over components: subtracting each row's maximum keeps exp() in range for
  // points far from every component, in any dimension.
  const Index K = log_density_.cols();
  double* density = log_density_.data();  // the block's rows are contiguous
  for (Index r = 0; r < rows; ++r) {
    double* row = density + r * K;
    double top = row[0];
    for (Index k = 1; k < K; ++k) top = std::max(top, row[k]);
    for (Index k = 0; k < K; ++k) row[k] -= top;
    row_max_[r] = top;
  }
  exp_non_positive(density, rows * K);
  for (Index r = 0; r < rows; ++r) {
    const double* row = density + r * K;
    double total = 0.0;
    for (Index k = 0; k < K; ++k) total += row[k];
    row_total_[r] = total;
  }
  auto log_likelihood = row_log_likelihood_.head(rows);
  log_likelihood = row_max_.head(rows).array() + row_total_.head(rows).array().log();  // vectorised log
  const double sum = log_likelihood.sum();
  if (output == Output::per_point) per_point_.segment(start, rows) = log_likelihood;
  if (output == Output::responsibilities || with_statistics(output)) {
    for (Index r = 0; r < rows; ++r) {
      double* row = density + r * K;
      const double inverse = 1.0 / row_total_[r];
      for (Index k = 0; k < K; ++k) row[k] *= inverse;
    }
  }
  if (with_tangent(output)) {
    // w_nk = r_nk (dl_nk - sum_j r_nj dl_nj): the responsibilities' derivative, the derivative of
    // the log-likelihood's own weights.
    for (Index r = 0; r < rows; ++r) {
      const double* resp = density + r * K;
      double* w = tangent_density_.row(r).data();
      double mean = 0.0;
      for (Index k = 0; k < K; ++k) mean += resp[k] * w[k];
      for (Index k = 0; k < K; ++k) w[k] = resp[k] * (w[k] - mean);
    }
  }
  block_log_likelihood_ += sum;
  if (output == Output::responsibilities) resp_.middleRows(start, rows) = log_density_.topRows(rows);
}

void Evaluator::reset_statistics(const Gmm& gmm, RowMatrixRef points, Output output) {
  stats_.points = tangent_stats_.points = points.rows();
  const Index K = gmm.shape.components, F = feature_count(gmm.shape);
  if (sums_responsibilities(output)) moment_sums_.setZero(K, F);
  if (with_tangent(output)) tangent_sums_.setZero(K, F);
}

bool Evaluator::use_fused(const Gmm& gmm, Output output) const {
  return gmm.shape.covariance != CovarianceType::full &&
         (output == Output::likelihood || with_statistics(output)) &&
         coefficients_.size() <= kMaxFusedCoefficients;
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
void Evaluator::fused_pass(RowMatrixRef points, bool with_statistics, bool sum_responsibilities) {
  constexpr Index W = kPacketWidth, G = kBlockGroups;
  // kDim > 0: the dimension known at compile time, so the per-dimension loops unroll.
  const Index N = points.rows(), d = kDim > 0 ? kDim : points.cols(), K = coefficients_.rows(), F = 2 * d + 1;
  const Index tangent_size = kTangent ? K * F + K * G : 0;
  fused_.assign(static_cast<std::size_t>(K * F + 2 * d * G + K * G + G + tangent_size), Packet{});
  Packet* sums = fused_.data();          // K x F accumulators of r phi
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
  auto evaluate = [&](const RowMatrix& coefficients, Packet* out, Index groups) {
    for (Index k = 0; k < K; ++k) {
      const double* c = coefficients.row(k).data();
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
    const Index rows = std::min(G * W, N - block), groups = (rows + W - 1) / W;
    for (Index g = 0; g < G; ++g) {
      // Each coordinate's packet is built in a register from the W rows (writing lanes to memory
      // and reading them back as a packet would stall the loads). Lanes past the end read the
      // centre itself, so they hold zeros.
      const double* row[W];
      Packet mask{};
      for (Index lane = 0; lane < W; ++lane) {
        const Index n = block + g * W + lane;
        row[lane] = n < N ? points.row(n).data() : origin_.data();
        mask[lane] = n < N ? 1.0 : 0.0;
      }
      valid[g] = mask;
      for (Index j = 0; j < d; ++j) {
        Packet x;
        for (Index lane = 0; lane < W; ++lane) x[lane] = row[lane][j];
        x -= origin_[j];
        centred[j * G + g] = x;
        squares[j * G + g] = x * x;
      }
    }
    evaluate(coefficients_, density, groups);
    if constexpr (kTangent) evaluate(tangent_coefficients_, tangent, groups);
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
  block_log_likelihood_ = log_likelihood;
  if (!with_statistics) return;
  auto reduce_lanes = [&](const Packet* from, RowMatrix& to) {
    for (Index k = 0; k < K; ++k)
      for (Index f = 0; f < F; ++f) {
        double total = 0.0;
        for (Index lane = 0; lane < W; ++lane) total += from[k * F + f][lane];
        to(k, f) = total;
      }
  };
  if (sum_responsibilities) reduce_lanes(sums, moment_sums_);
  if constexpr (kTangent) reduce_lanes(tangent_sums, tangent_sums_);
}

void Evaluator::fused_pass(RowMatrixRef points, Output output) {
  const bool statistics = with_statistics(output), responsibilities = sums_responsibilities(output);
  // The dimension as a template argument where it is small, for both kinds of pass.
  auto by_dimension = [&]<bool kTangent>() {
    switch (points.cols()) {
      case 1: return fused_pass<1, kTangent>(points, statistics, responsibilities);
      case 2: return fused_pass<2, kTangent>(points, statistics, responsibilities);
      case 3: return fused_pass<3, kTangent>(points, statistics, responsibilities);
      case 4: return fused_pass<4, kTangent>(points, statistics, responsibilities);
      default: return fused_pass<0, kTangent>(points, statistics, responsibilities);
    }
  };
  if (with_tangent(output)) {
    by_dimension.template operator()<true>();
  } else {
    by_dimension.template operator()<false>();
  }
}

void Evaluator::run(const Gmm& gmm, RowMatrixRef points, Output output, const Vector* direction) {
  prepare(gmm, points, direction);
  if (with_statistics(output)) reset_statistics(gmm, points, output);
  if (use_fused(gmm, output)) {
    fused_pass(points, output);
  } else {
    run_blocks(gmm, points, output);
  }
  stats_.log_likelihood_sum = block_log_likelihood_;
  if (!with_statistics(output)) return;
  if (sums_responsibilities(output)) collect_statistics(gmm, moment_sums_, stats_);
  if (with_tangent(output)) {
    collect_statistics(gmm, tangent_sums_, tangent_stats_);
    tangent_stats_.log_likelihood_sum = 0.0;  // its derivative is not needed
  }
}

void Evaluator::run_blocks(const Gmm& gmm, RowMatrixRef points, Output output) {
  const Index N = points.rows(), K = gmm.shape.components;
  prepare_blocks(gmm.shape, with_tangent(output));
  if (output == Output::per_point) per_point_.resize(N);
  if (output == Output::responsibilities || output == Output::component_densities) resp_.resize(N, K);
  block_log_likelihood_ = 0.0;
  // The coefficients' constants include log pi_k; component densities take it out again.
  const Eigen::RowVectorXd log_weights =
      output == Output::component_densities ? Eigen::RowVectorXd(gmm.log_weights().transpose()) : Eigen::RowVectorXd();
  for (Index start = 0; start < N; start += block_rows_) {
    const Index rows = std::min(block_rows_, N - start);
    block_log_densities(gmm, points.middleRows(start, rows), output);
    if (output == Output::component_densities) {
      resp_.middleRows(start, rows) = log_density_.topRows(rows).rowwise() - log_weights;
      continue;
    }
    finish_block(start, rows, output);
    if (sums_responsibilities(output)) {
      moment_sums_.noalias() += log_density_.topRows(rows).transpose() * features_.topRows(rows);
    }
    if (with_tangent(output)) {
      tangent_sums_.noalias() += tangent_density_.topRows(rows).transpose() * features_.topRows(rows);
    }
  }
}

void Evaluator::collect_statistics(const Gmm& gmm, const RowMatrix& sums, Statistics& out) const {
  const Index K = gmm.shape.components, d = gmm.shape.dim;
  const Index F = feature_count(gmm.shape), linear = F - d - 1;
  out.centers = origin_.replicate(K, 1);
  out.first = sums.middleCols(linear, d);
  out.weight_sum = sums.col(F - 1);
  if (gmm.shape.covariance == CovarianceType::full) {
    out.second.resize(0, 0);
    out.scatter.resize(K);
    for (Index k = 0; k < K; ++k) {
      Matrix& scatter = out.scatter[k];
      scatter.resize(d, d);
      for (Index i = 0, p = 0; i < d; ++i)
        for (Index j = i; j < d; ++j, ++p) scatter(i, j) = scatter(j, i) = sums(k, p);
    }
  } else {
    out.second = sums.leftCols(d);
    out.scatter.clear();
  }
}

double Evaluator::mean_log_likelihood(const Gmm& gmm, RowMatrixRef points) {
  run(gmm, points, Output::likelihood);
  return stats_.log_likelihood_sum / static_cast<double>(points.rows());
}

Vector Evaluator::point_log_likelihoods(const Gmm& gmm, RowMatrixRef points) {
  run(gmm, points, Output::per_point);
  return per_point_;
}

RowMatrix Evaluator::component_log_densities(const Gmm& gmm, RowMatrixRef points) {
  run(gmm, points, Output::component_densities);
  return resp_;
}

RowMatrix Evaluator::responsibilities(const Gmm& gmm, RowMatrixRef points) {
  run(gmm, points, Output::responsibilities);
  return resp_;
}

IntVector Evaluator::assignments(const Gmm& gmm, RowMatrixRef points) {
  const RowMatrix r = responsibilities(gmm, points);
  IntVector labels(r.rows());
  for (Index n = 0; n < r.rows(); ++n) {
    Index best;
    r.row(n).maxCoeff(&best);
    labels[n] = static_cast<std::int32_t>(best);
  }
  return labels;
}

const Statistics& Evaluator::statistics(const Gmm& gmm, RowMatrixRef points) {
  run(gmm, points, Output::statistics);
  return stats_;
}

std::pair<const Statistics&, const Statistics&> Evaluator::tangent_statistics(const Gmm& gmm, const Vector& direction,
                                                                               RowMatrixRef points) {
  run(gmm, points, Output::tangent, &direction);
  return {stats_, tangent_stats_};
}

const Statistics& Evaluator::statistics_derivative(const Gmm& gmm, const Vector& direction, RowMatrixRef points) {
  run(gmm, points, Output::derivative, &direction);
  return tangent_stats_;
}

Statistics Evaluator::statistics_of(RowMatrixRef points, RowMatrixRef resp, const RowMatrix& centers,
                                    CovarianceType covariance) {
  const Index K = resp.cols(), d = points.cols();
  METAGMM_CHECK(resp.rows() == points.rows() && centers.rows() == K && centers.cols() == d,
                "statistics_of: shapes disagree");
  Statistics s;
  s.points = points.rows();
  s.centers = centers;
  s.weight_sum = resp.colwise().sum().transpose();
  s.first.resize(K, d);
  if (covariance != CovarianceType::full) s.second.resize(K, d);
  for (Index k = 0; k < K; ++k) {
    const RowMatrix centered = points.rowwise() - centers.row(k);
    const RowMatrix weighted = centered.array().colwise() * resp.col(k).array();
    s.first.row(k) = weighted.colwise().sum();
    if (covariance == CovarianceType::full) {
      s.scatter.push_back(weighted.transpose() * centered);
    } else {
      s.second.row(k) = (weighted.array() * centered.array()).colwise().sum();
    }
  }
  return s;
}

}  // namespace metagmm::gmm
