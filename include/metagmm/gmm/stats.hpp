#pragma once
// One pass over a point set at fixed parameters: per-component log-densities, the
// log-likelihood by log-sum-exp, responsibilities, and the responsibility-weighted
// sufficient statistics that both the EM M-step and the exact gradient are made of.
//
// Points are processed in blocks of rows small enough to stay in cache; for diag and
// spherical covariances the log-densities and the statistics of a block are two matrix
// products each. All buffers live in an Evaluator that is reused across calls, so a hot loop
// over many tasks allocates nothing once the buffers have grown (first-touch memory is
// expensive here: shared/BENCHMARKS.md).
#include <vector>

#include "metagmm/core/types.hpp"
#include "metagmm/gmm/params.hpp"

namespace metagmm::gmm {

// Responsibility-weighted moments, taken about per-component reference points `centers`
// (diag/spherical: the mixture's mean sum_k pi_k mu_k, to keep the sums well conditioned;
// full: the component means). r_nk is the responsibility of component k for point n.
struct Statistics {
  Index points = 0;
  double log_likelihood_sum = 0.0;   // sum_n log p(x_n)
  Vector weight_sum;                 // n_k = sum_n r_nk
  RowMatrix centers;                 // K x d
  RowMatrix first;                   // K x d: sum_n r_nk (x_n - c_k)
  RowMatrix second;                  // diag/spherical, K x d: sum_n r_nk (x_n - c_k)^2
  std::vector<Matrix> scatter;       // full: sum_n r_nk (x_n - c_k)(x_n - c_k)^T
};

class Evaluator {
 public:
  // Mean log-likelihood (1/N) sum_n log sum_k pi_k N(x_n | mu_k, Sigma_k).
  double mean_log_likelihood(const Gmm& gmm, RowMatrixRef points);
  // Log-likelihood of each point (N).
  Vector point_log_likelihoods(const Gmm& gmm, RowMatrixRef points);
  // Responsibilities r_nk (N x K), each row summing to 1.
  RowMatrix responsibilities(const Gmm& gmm, RowMatrixRef points);
  // Most responsible component of each point.
  IntVector assignments(const Gmm& gmm, RowMatrixRef points);
  // Statistics of the responsibilities at `gmm`; valid until the next call.
  const Statistics& statistics(const Gmm& gmm, RowMatrixRef points);

  // The statistics of given (for example one-hot) responsibilities, taken about `centers`.
  static Statistics statistics_of(RowMatrixRef points, RowMatrixRef responsibilities,
                                  const RowMatrix& centers, CovarianceType covariance);

 private:
  enum class Output { likelihood, per_point, responsibilities, statistics };
  void run(const Gmm& gmm, RowMatrixRef points, Output output);
  void prepare(const Gmm& gmm, RowMatrixRef points);
  void block_log_densities(const Gmm& gmm, RowMatrixRef block);
  void reset_statistics(const Gmm& gmm, RowMatrixRef points);

  // Derived from the parameters once per call.
  RowMatrix coefficients_;   // diag/spherical: K x 2d, [-precision/2 | precision * (mu - c)]
  Vector constants_;         // K: log pi_k + log det^(1/2) - d/2 log 2 pi (- quadratic in mu)
  Eigen::RowVectorXd origin_;  // c, the point the features are centred on
  // Per-block buffers, grown on demand and reused.
  RowMatrix features_;       // B x 2d: [(x - c)^2 | x - c]
  RowMatrix log_density_;    // B x K; becomes responsibilities in place
  RowMatrix centered_;       // full, B x d per component: x - mu_k
  RowMatrix projected_;      // full, B x d: (x - mu_k) U_k
  RowMatrix weighted_;       // full, B x d: r_k (x - mu_k)
  Vector row_max_, row_sum_;
  RowMatrix moment_sums_;    // K x 2d: [sum r (x-c)^2 | sum r (x-c)]
  // Outputs.
  Statistics stats_;
  Vector per_point_;
  RowMatrix resp_;
};

}  // namespace metagmm::gmm
