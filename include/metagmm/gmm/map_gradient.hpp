#pragma once
// The reverse pass of one MAP-EM step (gmm/map.hpp) of a diagonal mixture: given the gradient of
// an objective with respect to the step's output, the gradient with respect to its input, its
// prior and its log relevance factors. Meta-learning differentiates the query loss through m
// such steps with it (meta/map_maml.hpp).
//
// The step, with theta = (logits a, means mu, log standard deviations s), prior (a^p, mu^p, s^p)
// and relevance r = exp(rho) per block (weights, means, variances):
//   gamma_ik   = softmax_k(log softmax(a)_k + log N(x_i | mu_k, exp(2 s_k)))
//   n_k = sum_i gamma_ik,  f_k = sum_i gamma_ik (x_i - c_k) / n_k,  q_k = sum_i gamma_ik (x_i - c_k)^2 / n_k
//   alpha_k    = n_k / (n_k + r)                                  (one per block)
//   w'_k      ~ alpha^w_k n_k / N + (1 - alpha^w_k) w^p_k         (normalised)
//   mu'_k      = c_k + alpha^m_k f_k + (1 - alpha^m_k)(mu^p_k - c_k)
//   v'_k       = alpha^v_k (q_k - 2 f_k (mu'_k - c_k) + (mu'_k - c_k)^2)
//                + (1 - alpha^v_k)(v^p_k + (mu^p_k - mu'_k)^2) + reg
//   theta'     = (log w', mu', 0.5 log v')
// with c_k = mu_k the centre the statistics are taken about (the step does not depend on it, so
// it is held constant here). The reverse pass recomputes the step's forward quantities (one pass
// over the support) and applies the chain rule by hand; tests check it against finite
// differences.
#include <array>

#include "metagmm/gmm/map.hpp"

namespace metagmm::gmm {

struct MapStepAdjoints {
  Vector input;                      // d objective / d theta (flat, diag layout)
  Vector prior;                      // accumulated: d objective / d prior (flat)
  std::array<double, 3> log_relevance{};  // accumulated: d objective / d log r (weights, means, variances)
};

// `at` (diag) is the step's input; `output_adjoint` the gradient with respect to its output.
// Overwrites adjoints.input; adds to adjoints.prior and adjoints.log_relevance.
void map_em_step_reverse(const Gmm& at, const Gmm& prior, const Relevance& relevance, double reg_covar,
                         RowMatrixRef support, const Vector& output_adjoint, MapStepAdjoints& adjoints);

}  // namespace metagmm::gmm
