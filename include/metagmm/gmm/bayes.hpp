#pragma once
// Bayesian adaptation of a diagonal mixture under a hierarchical prior (docs/design.md,
// "Hierarchical empirical Bayes"). Per component k and dimension j the prior says
//   mu_kj ~ N(m_kj, tau2_kj)                        the task's mean, between-task variance tau2
//   v_kj  centred on s2_kj with strength kappa_kj   the within-task variance, as pseudo-points
//   w     ~ Dirichlet(alpha),  alpha_k = A pi_k     the weights
// and the first E-step uses its own variances e_kj (the prior predictive s2 + tau2 when estimated).
// A task is adapted by variational EM: q(mu_kj) = N(muhat_kj, P_kj), q(w) = Dirichlet(alpha + n),
// point variances. One step, with the statistics n_k, F_kj = sum g x, Q_kj = sum g x^2 of the
// responsibilities g under the previous step's q (or the first E-step's model):
//   P     = 1 / (1 / tau2 + n / v_prev)             v_prev: the previous step's v (s2 before the first)
//   muhat = P (m / tau2 + F / v_prev)
//   v     = (kappa s2 + Q - 2 muhat F + n muhat^2 + n P) / (kappa + n)
//   alpha' = alpha + n
// and the E-step after it weighs component k by exp(psi(alpha'_k) - psi(sum alpha') +
// E_q log N(x; mu_k, v_k)). A task is scored by its posterior predictive mixture: weights
// alpha' / sum alpha', means muhat, variances v + P (a component seen on few points stays wide).
//
//
// Coupled means (optional; the meta-learner's --mean-coupling full). Stack the means as
// u = (mu_11, ..., mu_1d, mu_21, ..., mu_Kd). Hierarchical empirical Bayes makes them independent;
// a coupled prior says u ~ N(m, L L^T) with L = diag(sqrt tau2) + C, C strictly lower triangular
// (Kd x Kd), so components can move together (one shift, rotation or scale per task). Then q(u)
// is one Gaussian N(muhat, P) with full P, and the step's mean update becomes
//   P     = (Sigma^-1 + diag(n / v_prev))^-1,  Sigma = L L^T
//   muhat = P (Sigma^-1 m + F / v_prev)
// while everything else uses only P's diagonal (written P_kj above). C = 0 is exactly the
// independent model; tau2 is then L's squared diagonal, no longer u's marginal variance.
//
// The flat form (what meta-learning moves, and the layout of a prior's meta-parameters):
//   [logits of pi (K) | m (K x d) | 0.5 log e (K x d)]   a diagonal mixture's flat vector: the
//                                                        first E-step's model (gmm/params.hpp)
//   [log A (1) | log tau2 (K x d) | log s2 (K x d) | log kappa (K x d)]
//   [C's strictly lower entries, row by row (Kd (Kd - 1) / 2)]   coupled priors only
#include <vector>

#include "metagmm/gmm/params.hpp"

namespace metagmm::gmm {

struct HierarchicalPrior {
  GmmShape shape;          // diagonal
  Vector concentration;    // alpha (K), > 0
  RowMatrix mean;          // m
  RowMatrix first_variance;  // e
  RowMatrix between_variance;  // tau2
  RowMatrix within_variance;   // s2
  RowMatrix strength;          // kappa
  Matrix mean_coupling;        // C (Kd x Kd, strictly lower), or empty: independent means

  explicit HierarchicalPrior(GmmShape shape);
  bool coupled() const { return mean_coupling.size() > 0; }
  // Length of the flat form for `shape`: parameter_count() + 1 + 3 K d, and Kd (Kd - 1) / 2
  // more when the means are coupled.
  static Index flat_size(const GmmShape& shape, bool coupled = false);
  static Index coupling_size(const GmmShape& shape);
  Vector pack() const;
  // Coupled or not by the flat vector's length.
  static HierarchicalPrior unpack(const GmmShape& shape, const Vector& flat);
  // The same prior with C = 0: coupled, and equal to the independent one.
  HierarchicalPrior with_coupling() const;
  // The first E-step's model: weights alpha / sum alpha, means m, variances e.
  Gmm first_model() const;
  // InputError naming `what` for a value that is not finite and positive where it must be.
  void validate(const std::string& what) const;
};

// q after one step, and what the reverse pass needs of the step.
struct PosteriorState {
  Vector alpha;              // alpha + n
  RowMatrix mean;            // muhat
  RowMatrix mean_variance;   // P (its diagonal when coupled)
  Matrix mean_covariance;    // coupled priors only: the full P (Kd x Kd)
  RowMatrix variance;        // v
  // The step's inputs, kept for the reverse pass.
  RowMatrix responsibilities;  // N x K
  Vector counts;               // n
  RowMatrix first, second;     // F, Q
  RowMatrix previous_variance; // v_prev
};

// `steps` variational-EM steps on `points`: path[t] is q after step t + 1.
void variational_path(const HierarchicalPrior& prior, RowMatrixRef points, int steps,
                      std::vector<PosteriorState>& path);
// The posterior predictive mixture after a step.
Gmm posterior_predictive(const PosteriorState& state, const GmmShape& shape);

// Reverse pass: given the adjoint of a loss with respect to the flat parameters of the last
// state's posterior predictive (the prior's first_model() when the path is empty), returns the
// loss's gradient with respect to the prior's flat form.
Vector variational_path_gradient(const HierarchicalPrior& prior, RowMatrixRef points,
                                 const std::vector<PosteriorState>& path, const Vector& predictive_adjoint);

}  // namespace metagmm::gmm
