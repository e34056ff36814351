#pragma once
// One pass over a point set at fixed parameters: per-component log-densities, the
// log-likelihood by log-sum-exp, responsibilities, and the responsibility-weighted
// sufficient statistics that both the EM M-step and the exact gradient are made of.
//
// A Gaussian mixture is an exponential family in the features
//   diag/spherical: phi(x) = [(x-c)^2 | x-c | 1]
//   full:           phi(x) = [(x_i-c_i)(x_j-c_j) for i <= j | x-c | 1]
// (c the mixture's mean): every component's log-density is phi(x) . C_k with coefficients C_k
// built from its parameters, and every sufficient statistic is sum_n r_nk phi(x_n). So one pass
// is two matrix products per block of points, whatever the covariance type: Phi C^T for the
// log-densities and R^T Phi for the statistics. (For full covariances the log-densities come
// instead from |U_k^T (x - mu_k)|^2, a sum of squares that stays accurate when the precision is
// badly conditioned, by a kernel vectorised across points. For diag and spherical mixtures up to
// K x F of about a thousand, a matrix product's packing and set-up cost more than its arithmetic:
// one fused loop over blocks of points then does the whole pass in registers and cache.) Blocks
// stay in cache, and
// all buffers live in an Evaluator that is reused across calls, so a hot loop over many tasks
// allocates nothing once the buffers have grown (first-touch memory is expensive here:
// shared/BENCHMARKS.md).
#include <utility>
#include <vector>

#include "metagmm/core/scratch.hpp"
#include "metagmm/core/types.hpp"
#include "metagmm/gmm/params.hpp"

namespace metagmm::gmm {

// Responsibility-weighted moments, taken about per-component reference points `centers`
// (the Evaluator uses the mixture's mean sum_k pi_k mu_k for every component, which keeps the
// expanded sums well conditioned). r_nk is the responsibility of component k for point n.
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
  // log N(x_n | mu_k, Sigma_k) of every point under every component (N x K), without weights.
  RowMatrix component_log_densities(const Gmm& gmm, RowMatrixRef points);
  // Responsibilities r_nk (N x K), each row summing to 1.
  RowMatrix responsibilities(const Gmm& gmm, RowMatrixRef points);
  // Most responsible component of each point.
  IntVector assignments(const Gmm& gmm, RowMatrixRef points);
  // Statistics of the responsibilities at `gmm`; valid until the next call.
  const Statistics& statistics(const Gmm& gmm, RowMatrixRef points);
  // The statistics at `gmm` and, in the same pass, their derivative along `direction` (a flat
  // parameter vector) with the centres held fixed: the moments of the weights
  // w_nk = r_nk (dl_nk - sum_j r_nj dl_nj), where dl_nk is the derivative of
  // log pi_k + log N(x_n | mu_k, Sigma_k) along the direction. Valid until the next call.
  std::pair<const Statistics&, const Statistics&> tangent_statistics(const Gmm& gmm, const Vector& direction,
                                                                      RowMatrixRef points);
  // Only the derivative, for callers that kept the statistics at `gmm` from an earlier pass
  // (MAML's reverse pass): the same pass without summing the responsibilities' moments.
  const Statistics& statistics_derivative(const Gmm& gmm, const Vector& direction, RowMatrixRef points);

  // The statistics of given (for example one-hot) responsibilities, taken about `centers`.
  static Statistics statistics_of(RowMatrixRef points, RowMatrixRef responsibilities,
                                  const RowMatrix& centers, CovarianceType covariance);

 private:
  // tangent: the statistics and their derivative; derivative: the derivative alone.
  enum class Output { component_densities, likelihood, per_point, responsibilities, statistics, tangent, derivative };
  // Passes that sum moments of the features (and so need them all).
  static bool with_statistics(Output output) { return output >= Output::statistics; }
  static bool with_tangent(Output output) { return output >= Output::tangent; }
  static bool sums_responsibilities(Output output) { return output == Output::statistics || output == Output::tangent; }
  void run(const Gmm& gmm, RowMatrixRef points, Output output, const Vector* direction = nullptr);
  void run_blocks(const Gmm& gmm, RowMatrixRef points, Output output);
  void collect_statistics(const Gmm& gmm, const RowMatrix& sums, Statistics& out) const;
  void prepare(const Gmm& gmm, RowMatrixRef points, const Vector* direction);
  void prepare_diagonal(const Gmm& gmm, const Vector& log_weights);
  void prepare_full(const Gmm& gmm, const Vector& log_weights);
  void prepare_diagonal_tangent(const Gmm& gmm, const Vector& direction, double mean_logit);
  void prepare_full_tangent(const Gmm& gmm, const Vector& direction, double mean_logit);
  void block_log_densities(const Gmm& gmm, RowMatrixRef block, Output output);
  void reset_statistics(const Gmm& gmm, RowMatrixRef points, Output output);
  void prepare_blocks(const GmmShape& shape, bool tangent);

  void full_log_densities(const Gmm& gmm, Index rows, bool tangent);
  void finish_block(Index start, Index rows, Output output);
  bool use_fused(const Gmm& gmm, Output output) const;
  void fused_pass(RowMatrixRef points, Output output);

  // Derived from the parameters once per call.
  Eigen::RowVectorXd origin_;  // c, the point the features are centred on
  RowMatrix coefficients_;     // K x F: row k holds C_k (diag, spherical)
  RowMatrix precision_;        // diag, spherical: exp(-2 log sd), the shape of log_sd
  RowMatrix projection_;       // full, K x (d(d+1)/2 + d): U_k's upper triangle by columns, U_k^T (mu_k - c)
  Vector projection_constants_;  // full, K: log pi_k + sum_j log U_jj - d/2 log 2 pi
  // Their derivatives along the direction of tangent_statistics().
  RowMatrix tangent_coefficients_;
  RowMatrix tangent_projection_;
  Vector tangent_constants_;
  Index block_rows_ = 0;
  // Per-block buffers, grown on demand and reused.
  RowMatrix transposed_;       // full, d x B: the block's centred points, one coordinate per row
  RowMatrix features_;         // B x F: phi of the block's points
  RowMatrix log_density_;      // B x K; becomes responsibilities in place
  RowMatrix tangent_density_;  // B x K: dl_nk, then the weights w_nk in place
  Vector row_max_;             // B: each row's largest log-density
  Vector row_total_;           // B: sum_k exp(log-density - max)
  Vector row_log_likelihood_;  // B: log p(x) of each row
  RowMatrix moment_sums_;      // K x F: R^T Phi summed over blocks
  RowMatrix tangent_sums_;     // K x F: W^T Phi summed over blocks
  Scratch fused_scratch_;      // fused pass: its packet accumulators, centred points and log-densities
  double block_log_likelihood_ = 0.0;
  // Outputs.
  Statistics stats_;
  Statistics tangent_stats_;
  Vector per_point_;
  RowMatrix resp_;
};

// Whether `gmm` has collapsed on `points`: two or more components, two or more points, and every
// point's most responsible component the same one (all the responsibility on one component, the
// silent failure of an adaptation that merges its components).
bool collapsed(const Gmm& gmm, RowMatrixRef points, Evaluator& evaluator);

}  // namespace metagmm::gmm
