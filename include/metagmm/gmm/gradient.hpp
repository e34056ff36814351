#pragma once
// The loss L(theta; X) = -(1/|X|) sum_x log sum_k pi_k N(x | mu_k, Sigma_k) and its exact
// gradient with respect to the flat parameter vector (layout in params.hpp).
#include "metagmm/gmm/stats.hpp"

namespace metagmm::gmm {

// Gradient of the mean negative log-likelihood from the statistics taken at `gmm`.
Vector loss_gradient(const Gmm& gmm, const Statistics& stats);

// Returns L(theta; X) and writes its gradient into `gradient`.
double loss_and_gradient(const Gmm& gmm, RowMatrixRef points, Evaluator& evaluator,
                         Vector& gradient);

// H(theta; X) v: the Hessian of L(theta; X) at `gmm` times `direction` (flat layout), exact. It
// is the gradient's derivative along v: one pass takes the statistics and their derivative
// (Evaluator::tangent_statistics), then the gradient formula runs on dual numbers.
Vector hessian_vector_product(const Gmm& gmm, const Vector& direction, RowMatrixRef points, Evaluator& evaluator);
// The same, given the statistics at `gmm` on `points` (Evaluator::statistics, kept from an
// earlier pass): the pass then takes only their derivative.
Vector hessian_vector_product(const Gmm& gmm, const Statistics& stats, const Vector& direction, RowMatrixRef points,
                              Evaluator& evaluator);

}  // namespace metagmm::gmm
