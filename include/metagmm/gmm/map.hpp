#pragma once
// MAP adaptation of a mixture towards a prior (Reynolds, Quatieri and Dunn 2000; docs/design.md,
// "The mathematics"): the M-step moves each component's weight, mean and covariance from the prior's
// towards the data's by alpha_k = n_k / (n_k + r), with a relevance factor r per block:
//   w_k     proportional to  alpha_k^w n_k / N + (1 - alpha_k^w) w_k^prior
//   mu_k    = alpha_k^m E_k[x] + (1 - alpha_k^m) mu_k^prior
//   Sigma_k = alpha_k^v E_k[(x - mu_k)(x - mu_k)^T] + (1 - alpha_k^v) (Sigma_k^prior + d_k d_k^T) + reg_covar
// with E_k the responsibility-weighted average and d_k = mu_k^prior - mu_k. With equal relevance
// for means and covariances this is Reynolds' formula alpha E[x x^T] + (1 - alpha)(Sigma + mu mu^T)
// - mu_k mu_k^T; taken about the adapted mean it stays positive definite for any pair of factors.
// A component with no data keeps the prior; r -> 0 gives the maximum-likelihood M-step.
#include <optional>
#include <string>

#include "metagmm/gmm/em.hpp"
#include "metagmm/gmm/stats.hpp"

namespace metagmm::gmm {

struct Relevance {
  double weights = 16.0, means = 16.0, covariances = 16.0;  // Reynolds et al. used 16
  void validate() const;  // InputError: every factor >= 0 and finite
  // "R" (every block) or "RW:RM:RV"; InputError naming `what` otherwise.
  static Relevance parse(const std::string& text, const std::string& what);
  static std::optional<Relevance> try_parse(const std::string& text);  // nullopt where parse throws
  std::string to_string() const;  // "RW:RM:RV"
};

// The MAP M-step from the statistics of a point set (taken at any mixture) towards `prior`.
Gmm map_maximization_step(const Statistics& stats, const Gmm& prior, const Relevance& relevance, double reg_covar);

// One MAP-EM step in place: E-step at `gmm`, MAP M-step towards `prior` (which stays fixed over
// the steps). Returns the mean log-likelihood before the step.
double map_em_step(Gmm& gmm, const Gmm& prior, RowMatrixRef points, const Relevance& relevance, double reg_covar,
                   Evaluator& evaluator);

// MAP-EM steps towards `prior` from `gmm`, stopping as fit_em does (the mean log-likelihood
// changing by less than options.tolerance, or options.max_iterations steps).
EmResult fit_map(Gmm& gmm, const Gmm& prior, RowMatrixRef points, const EmOptions& options, const Relevance& relevance,
                 Evaluator& evaluator);

}  // namespace metagmm::gmm
