#pragma once
// Hierarchical empirical Bayes (docs/design.md, "Hierarchical empirical Bayes"): the prior of
// gmm/bayes.hpp estimated from a split's training tasks by the method of moments, learning
// nothing by gradient. Every task is fitted by EM started at the pooled model (which keeps its
// components aligned with the pooled ones); then per component k and dimension j, over the T
// tasks with fitted weights w_tk, means mu_tkj, variances v_tkj and n_tk = N_t w_tk points:
//   m_kj    = mean_t mu_tkj
//   s2_kj   = mean_t v_tkj n_tk / (n_tk - 1)                  (ML variances are biased low)
//   tau2_kj = var_t mu_tkj - mean_t v_tkj / n_tk               (less each fit's sampling noise)
//   kappa   = 2 / (var_t log v_tkj - mean_t 2 / (n_tk - 1))    (var log v ~ 2 / strength)
//   alpha   = A mean_t w_t,  A + 1 = sum_k wbar_k (1 - wbar_k) / sum_k (var_t w_tk - noise_k)
//   e       = s2 + tau2                                        (the prior predictive)
// each clamped to a sane range (HierarchicalPriorLimits).
//
// The coupled estimate (eval's heb-coupled) keeps all of that but replaces the independent
// tau2 by the covariance of the stacked means u_t = (mu_t11, ..., mu_tKd) across tasks, less
// the mean sampling noise on its diagonal, its eigenvalues floored at min_between_ratio times
// the smallest s2 and at its largest / max_coupled_condition, as the Cholesky factor of gmm/bayes.hpp's coupled prior; e is then s2 plus
// that covariance's diagonal. Also no gradient learning: a statistician's answer to components
// that move together.
#include <string>
#include <vector>

#include "metagmm/gmm/bayes.hpp"
#include "metagmm/task/sampler.hpp"

namespace metagmm::task {

// The fewest training tasks the between-task variances are estimated from.
inline constexpr Index kMinPriorTasks = 10;

struct HierarchicalPriorLimits {
  double min_between_ratio = 1e-4;   // tau2 >= this times s2: a prior on the mean stays a density
  // The coupled covariance's eigenvalues are also kept >= its largest / this: with heavy-tailed
  // tasks a degenerate component (s2 ~ 1e-3) let it span 1e10, and the learner's posterior
  // precision (Sigma^-1 + diag(n / v)) stopped being numerically positive definite after one step.
  double max_coupled_condition = 1e6;
  double min_strength = 1.0, max_strength = 1e4;
  double min_concentration = 1.0, max_concentration = 1e4;
};

// The fitted per-task mixtures and their point counts (what the estimate is made from).
gmm::HierarchicalPrior estimate_prior_from_fits(const std::vector<gmm::Gmm>& fits, const std::vector<Index>& sizes,
                                                const HierarchicalPriorLimits& limits = {});

gmm::HierarchicalPrior estimate_coupled_prior_from_fits(const std::vector<gmm::Gmm>& fits,
                                                        const std::vector<Index>& sizes,
                                                        const HierarchicalPriorLimits& limits = {});

// Every task of a split fitted by EM from the pooled model, and their point counts: what both
// estimates are made from, so a caller that wants both fits the tasks once.
struct TaskFits {
  std::vector<gmm::Gmm> fits;
  std::vector<Index> sizes;
  std::string description;  // which tasks, fitted how
};

// Fits every task of `split` by EM from `pooled` (reg_covar, to a tight tolerance, 1e-12 per
// point, so that the estimate does not depend on the iteration count). InputError naming the
// source when it has fewer than kMinPriorTasks tasks in the split or a task smaller than its components.
TaskFits fit_tasks_from_pooled(TaskSource& source, Split split, const gmm::Gmm& pooled, double reg_covar);

// The prior, independent or coupled, from the fits; `description` says what it was estimated from.
gmm::HierarchicalPrior estimate_hierarchical_prior(const TaskFits& fits, bool coupled, std::string& description);

// fit_tasks_from_pooled, then the estimate from its fits.
gmm::HierarchicalPrior estimate_hierarchical_prior(TaskSource& source, Split split, const gmm::Gmm& pooled,
                                                   double reg_covar, std::string& description, bool coupled = false);

// The pooled model of a split: EM from k-means++ on all its tasks' points pooled, from the
// split's own initialisation stream of `seed`.
gmm::Gmm fit_pooled_model(TaskSource& source, Split split, const gmm::GmmShape& shape, double reg_covar,
                          std::uint64_t seed, std::string& description);

}  // namespace metagmm::task
