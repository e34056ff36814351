#include "metagmm/gmm/stats.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/kernels.hpp"

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
    full_log_densities(gmm, rows, tangent);
    return;
  }
  multiply(false, features_.topRows(rows), true, coefficients_, log_density_.topRows(rows));
  if (tangent) multiply(false, features_.topRows(rows), true, tangent_coefficients_, tangent_density_.topRows(rows));
}

void Evaluator::full_log_densities(const Gmm& gmm, Index rows, bool tangent) {
  const Kernels& kernel = kernels();
  const Index d = gmm.shape.dim, span = kernel.full_span;
  const Index stride = (rows + span - 1) / span * span;
  // The block's centred points, transposed: row i holds coordinate i of every point, so
  // consecutive points' coordinates load as one packet. Padding columns stay zero.
  grow(transposed_, d, stride);
  const Index linear = features_.cols() - d - 1;
  transposed_.leftCols(rows) = features_.topRows(rows).middleCols(linear, d).transpose();
  transposed_.middleCols(rows, transposed_.cols() - rows).setZero();
  FullDensityArgs args;
  args.transposed = transposed_.data();
  args.stride = transposed_.cols();
  args.rows = rows;
  args.dim = d;
  args.components = gmm.shape.components;
  args.projection = projection_.data();
  args.projection_stride = projection_.cols();
  args.constants = projection_constants_.data();
  if (tangent) {
    args.tangent_projection = tangent_projection_.data();
    args.tangent_constants = tangent_constants_.data();
    args.tangent_density = tangent_density_.data();
  }
  args.log_density = log_density_.data();
  args.density_stride = log_density_.cols();
  kernel.full_log_densities(args);
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

// The whole pass in registers and the first level cache, by the kernels (gmm/kernel_table.hpp):
// no per-point array is written and no operand is repacked, which is what a matrix product
// costs beyond its arithmetic at these sizes.
void Evaluator::fused_pass(RowMatrixRef points, Output output) {
  const Kernels& kernel = kernels();
  const bool tangent = with_tangent(output);
  const Index K = coefficients_.rows(), d = points.cols();
  FusedPassArgs args;
  args.points = points.data();
  args.rows = points.rows();
  args.dim = d;
  args.point_stride = points.outerStride();
  args.origin = origin_.data();
  args.components = K;
  args.coefficients = coefficients_.data();
  args.tangent_coefficients = tangent ? tangent_coefficients_.data() : nullptr;
  args.with_statistics = with_statistics(output);
  args.sum_responsibilities = sums_responsibilities(output);
  args.moment_sums = moment_sums_.data();
  args.tangent_sums = tangent ? tangent_sums_.data() : nullptr;
  args.scratch = fused_scratch_.reserve(static_cast<std::size_t>(kernel.fused_scratch_doubles(K, d, tangent)));
  block_log_likelihood_ = kernel.fused_pass(args);
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
    if (sums_responsibilities(output)) multiply(true, log_density_.topRows(rows), false, features_.topRows(rows), moment_sums_, true);
    if (with_tangent(output)) multiply(true, tangent_density_.topRows(rows), false, features_.topRows(rows), tangent_sums_, true);
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

bool collapsed(const Gmm& gmm, RowMatrixRef points, Evaluator& evaluator) {
  if (gmm.shape.components < 2 || points.rows() < 2) return false;
  const IntVector assigned = evaluator.assignments(gmm, points);
  return (assigned.array() == assigned[0]).all();
}

}  // namespace metagmm::gmm
