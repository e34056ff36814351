#pragma once
// Parameters of a Gaussian mixture (docs/design.md, "The mathematics").
//
// The unconstrained form that gradients act on:
//   logits a (K)              weights  pi = softmax(a)
//   means (K x d)
//   diag:      log_sd (K x d) standard deviation sigma_kj = exp(log_sd_kj)
//   spherical: log_sd (K x 1) one standard deviation per component
//   full:      prec_chol[k]   upper-triangular U with precision Sigma^-1 = U U^T: exactly
//                             scikit-learn's precisions_cholesky_; its diagonal is stored
//                             as log(U_jj) in the flat vector.
// The flat vector is [logits | means row by row | covariance part], the covariance part
// being log_sd row by row, or for full each component's upper triangle row by row.
#include <string>
#include <string_view>
#include <vector>

#include "metagmm/core/types.hpp"

namespace metagmm::gmm {

enum class CovarianceType { diag, spherical, full };

std::string to_string(CovarianceType type);
// Throws InputError naming `what` (an option or file) if `text` is no covariance type.
CovarianceType parse_covariance_type(std::string_view text, std::string_view what);

struct GmmShape {
  Index components = 1;
  Index dim = 1;
  CovarianceType covariance = CovarianceType::diag;

  Index covariance_parameter_count() const;  // per component
  Index parameter_count() const;             // length of the flat vector
  bool operator==(const GmmShape&) const = default;
};

struct Gmm {
  GmmShape shape;
  Vector logits;
  RowMatrix means;
  RowMatrix log_sd;                // diag and spherical
  std::vector<Matrix> prec_chol;   // full

  // Equal weights, zero means, identity covariances.
  explicit Gmm(GmmShape shape);

  Vector weights() const;
  Vector log_weights() const;  // log-softmax of the logits
  Vector pack() const;
  static Gmm unpack(GmmShape shape, const Vector& flat);
};

// Natural parameters in scikit-learn's layout: weights_, means_, covariances_.
struct GmmMoments {
  CovarianceType covariance = CovarianceType::diag;
  Vector weights;                     // K, positive, summing to 1
  RowMatrix means;                    // K x d
  RowMatrix variances;                // diag: K x d, spherical: K x 1
  std::vector<Matrix> covariances;    // full: K matrices d x d
};

GmmMoments to_moments(const Gmm& gmm);
// Throws InputError if a variance is not positive or a covariance not positive definite.
Gmm from_moments(const GmmMoments& moments);

// Full d x d covariance of component k, whatever the covariance type.
Matrix covariance_matrix(const Gmm& gmm, Index k);
// Precision Cholesky factor of component k in scikit-learn's shape for the type:
// diag: 1 x d, spherical: 1 x 1, full: d x d.
Matrix precision_cholesky(const Gmm& gmm, Index k);

}  // namespace metagmm::gmm
