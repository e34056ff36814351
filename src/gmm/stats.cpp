#include "metagmm/gmm/stats.hpp"

#include <cmath>
#include <numbers>

#include "metagmm/core/error.hpp"

namespace metagmm::gmm {
namespace {

// Rows per block: the block's features, log-densities and (full) projections stay in L2.
constexpr Index kBlockRows = 256;
const double kLogTwoPi = std::log(2.0 * std::numbers::pi);

template <typename M>
void grow(M& buffer, Index rows, Index cols) {
  if (buffer.rows() < rows || buffer.cols() != cols) buffer.resize(std::max(rows, buffer.rows()), cols);
}

}  // namespace

void Evaluator::prepare(const Gmm& gmm, RowMatrixRef points) {
  const GmmShape& s = gmm.shape;
  METAGMM_CHECK(points.cols() == s.dim, "points and mixture disagree on the dimension");
  METAGMM_CHECK(points.rows() > 0, "an empty point set has no likelihood");
  const Index K = s.components, d = s.dim;
  const Vector log_weights = gmm.log_weights();
  constants_.resize(K);
  if (s.covariance == CovarianceType::full) {
    for (Index k = 0; k < K; ++k) {
      constants_[k] = log_weights[k] + gmm.prec_chol[k].diagonal().array().log().sum() - 0.5 * d * kLogTwoPi;
    }
    grow(centered_, kBlockRows * K, d);
    grow(projected_, kBlockRows, d);
    grow(weighted_, kBlockRows, d);
  } else {
    // Centring on the mixture's mean keeps the expanded quadratic form's cancellation at
    // eps * (spread of the components / sigma)^2, whatever the data's offset or order.
    origin_ = log_weights.array().exp().matrix().transpose() * gmm.means;
    coefficients_.resize(K, 2 * d);
    for (Index k = 0; k < K; ++k) {
      const auto log_sd = s.covariance == CovarianceType::diag
                              ? Eigen::ArrayXd(gmm.log_sd.row(k).transpose().array())
                              : Eigen::ArrayXd::Constant(d, gmm.log_sd(k, 0));
      const Eigen::ArrayXd precision = (-2.0 * log_sd).exp();
      const Eigen::ArrayXd offset = (gmm.means.row(k) - origin_).transpose().array();
      coefficients_.row(k).head(d) = (-0.5 * precision).transpose();
      coefficients_.row(k).tail(d) = (precision * offset).transpose();
      constants_[k] = log_weights[k] - log_sd.sum() - 0.5 * d * kLogTwoPi -
                      0.5 * (precision * offset.square()).sum();
    }
    grow(features_, kBlockRows, 2 * d);
  }
  grow(log_density_, kBlockRows, K);
}

void Evaluator::block_log_densities(const Gmm& gmm, RowMatrixRef block) {
  const Index rows = block.rows(), K = gmm.shape.components, d = gmm.shape.dim;
  auto log_density = log_density_.topRows(rows);
  if (gmm.shape.covariance == CovarianceType::full) {
    for (Index k = 0; k < K; ++k) {
      auto centered = centered_.middleRows(k * kBlockRows, rows);
      auto projected = projected_.topRows(rows);
      centered = block.rowwise() - gmm.means.row(k);
      projected.noalias() = centered * gmm.prec_chol[k].triangularView<Eigen::Upper>();
      log_density.col(k) = (-0.5 * projected.rowwise().squaredNorm()).array() + constants_[k];
    }
  } else {
    auto features = features_.topRows(rows);
    features.rightCols(d) = block.rowwise() - origin_;
    features.leftCols(d) = features.rightCols(d).array().square();
    log_density.noalias() = features * coefficients_.transpose();
    log_density.rowwise() += constants_.transpose();
  }
}

void Evaluator::reset_statistics(const Gmm& gmm, RowMatrixRef points) {
  const Index K = gmm.shape.components, d = gmm.shape.dim;
  stats_.points = points.rows();
  stats_.log_likelihood_sum = 0.0;
  stats_.weight_sum = Vector::Zero(K);
  stats_.first = RowMatrix::Zero(K, d);
  if (gmm.shape.covariance == CovarianceType::full) {
    stats_.centers = gmm.means;
    stats_.second.resize(0, 0);
    stats_.scatter.assign(K, Matrix::Zero(d, d));
  } else {
    stats_.centers = origin_.replicate(K, 1);
    stats_.scatter.clear();
    moment_sums_ = RowMatrix::Zero(K, 2 * d);
  }
}

void Evaluator::run(const Gmm& gmm, RowMatrixRef points, Output output) {
  prepare(gmm, points);
  const Index N = points.rows(), K = gmm.shape.components, d = gmm.shape.dim;
  const bool full = gmm.shape.covariance == CovarianceType::full;
  if (output == Output::statistics) reset_statistics(gmm, points);
  if (output == Output::per_point) per_point_.resize(N);
  if (output == Output::responsibilities) resp_.resize(N, K);
  grow(row_max_, kBlockRows, 1);
  grow(row_sum_, kBlockRows, 1);

  double log_likelihood_sum = 0.0;
  for (Index start = 0; start < N; start += kBlockRows) {
    const Index rows = std::min(kBlockRows, N - start);
    block_log_densities(gmm, points.middleRows(start, rows));
    auto density = log_density_.topRows(rows);
    auto row_max = row_max_.head(rows);
    auto row_sum = row_sum_.head(rows);
    // log-sum-exp over components: subtracting each row's maximum keeps exp() in range for
    // points far from every component, in any dimension.
    row_max = density.rowwise().maxCoeff();
    density.colwise() -= row_max;
    density = density.array().exp();
    row_sum = density.rowwise().sum();
    if (output == Output::per_point) {
      per_point_.segment(start, rows) = row_max.array() + row_sum.array().log();
      continue;
    }
    log_likelihood_sum += (row_max.array() + row_sum.array().log()).sum();
    if (output == Output::likelihood) continue;
    density.array().colwise() /= row_sum.array();  // now responsibilities
    if (output == Output::responsibilities) {
      resp_.middleRows(start, rows) = density;
      continue;
    }
    stats_.weight_sum.noalias() += density.colwise().sum().transpose();
    if (full) {
      for (Index k = 0; k < K; ++k) {
        auto centered = centered_.middleRows(k * kBlockRows, rows);
        auto weighted = weighted_.topRows(rows);
        weighted = centered.array().colwise() * density.col(k).array();
        stats_.first.row(k).noalias() += weighted.colwise().sum();
        stats_.scatter[k].noalias() += weighted.transpose() * centered;
      }
    } else {
      moment_sums_.noalias() += density.transpose() * features_.topRows(rows);
    }
  }
  if (output == Output::statistics && !full) {
    stats_.second = moment_sums_.leftCols(d);
    stats_.first = moment_sums_.rightCols(d);
  }
  stats_.log_likelihood_sum = log_likelihood_sum;
}

double Evaluator::mean_log_likelihood(const Gmm& gmm, RowMatrixRef points) {
  run(gmm, points, Output::likelihood);
  return stats_.log_likelihood_sum / static_cast<double>(points.rows());
}

Vector Evaluator::point_log_likelihoods(const Gmm& gmm, RowMatrixRef points) {
  run(gmm, points, Output::per_point);
  return per_point_;
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

Statistics Evaluator::statistics_of(RowMatrixRef points, RowMatrixRef resp,
                                    const RowMatrix& centers, CovarianceType covariance) {
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
