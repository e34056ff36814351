#pragma once
// Expectation-maximisation for a Gaussian mixture, step for step the algorithm of
// scikit-learn's GaussianMixture (same M-step formulas, same reg_covar floor, same stopping
// rule), so that the two agree to rounding from the same start.
#include <functional>
#include <vector>

#include "metagmm/gmm/stats.hpp"

namespace metagmm::gmm {

struct EmOptions {
  int max_iterations = 100;   // --max-iter: EM iterations at most
  double tolerance = 1e-3;    // --tol: stop when the mean log-likelihood changes by less
  double reg_covar = 1e-6;    // --reg-covar: added to every variance (covariance diagonal)
  // Throws InputError naming the option if a value is out of range.
  void validate() const;
};

struct EmResult {
  int iterations = 0;
  bool converged = false;
  double mean_log_likelihood = 0.0;     // at the final parameters
  std::vector<double> history;          // mean log-likelihood before each M-step
};

// The M-step: maximum-likelihood moments from the statistics, with reg_covar added to the
// variances. Throws InputError if a covariance is singular.
Gmm maximization_step(const Statistics& stats, CovarianceType covariance, double reg_covar);

// One E-step and M-step in place; returns the mean log-likelihood before the step.
double em_step(Gmm& gmm, RowMatrixRef points, double reg_covar, Evaluator& evaluator);

// Iterates until |change in mean log-likelihood| < tolerance (scikit-learn's rule: the
// likelihood is measured at each E-step) or max_iterations steps.
EmResult fit_em(Gmm& gmm, RowMatrixRef points, const EmOptions& options, Evaluator& evaluator);

// fit_em's loop and stopping rule around any step that updates `gmm` in place and returns the
// mean log-likelihood before it (an EM step, a MAP-EM step).
EmResult iterate_to_convergence(Gmm& gmm, RowMatrixRef points, const EmOptions& options, Evaluator& evaluator,
                                const std::function<double()>& step);

}  // namespace metagmm::gmm
