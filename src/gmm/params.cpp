#include "metagmm/gmm/params.hpp"

#include "metagmm/gmm/covariance.hpp"

#include "metagmm/core/eigen.hpp"
#include <cmath>

#include "metagmm/core/error.hpp"

namespace metagmm::gmm {

std::string to_string(CovarianceType type) { return covariance_traits(type).name; }

CovarianceType parse_covariance_type(std::string_view text, std::string_view what) {
  std::string names;
  const auto& types = covariance_types();
  for (std::size_t i = 0; i < types.size(); ++i) {
    if (text == types[i].name) return types[i].type;
    names += (i == 0 ? "" : i + 1 == types.size() ? " or " : ", ") + std::string(types[i].name);
  }
  throw InputError(std::string(what) + ": expected " + names + ", got '" + std::string(text) + "'");
}

Index GmmShape::covariance_parameter_count() const { return covariance_traits(covariance).parameters(dim); }

Index GmmShape::parameter_count() const {
  return components * (1 + dim + covariance_parameter_count());
}

Gmm::Gmm(GmmShape s) : shape(s) {
  METAGMM_CHECK(s.components >= 1 && s.dim >= 1, "a mixture needs K >= 1 and d >= 1");
  logits = Vector::Zero(s.components);
  means = RowMatrix::Zero(s.components, s.dim);
  if (s.covariance == CovarianceType::full) {
    prec_chol.assign(s.components, Matrix::Identity(s.dim, s.dim));
  } else {
    log_sd = RowMatrix::Zero(s.components, s.covariance == CovarianceType::diag ? s.dim : 1);
  }
}

Vector Gmm::log_weights() const {
  const double top = logits.maxCoeff();
  return logits.array() - (top + std::log((logits.array() - top).exp().sum()));
}

Vector Gmm::weights() const { return log_weights().array().exp(); }

Vector Gmm::pack() const {
  const Index K = shape.components, d = shape.dim;
  Vector flat(shape.parameter_count());
  Index at = 0;
  flat.segment(at, K) = logits;
  at += K;
  for (Index k = 0; k < K; ++k, at += d) flat.segment(at, d) = means.row(k).transpose();
  if (shape.covariance == CovarianceType::full) {
    for (Index k = 0; k < K; ++k)
      for (Index i = 0; i < d; ++i)
        for (Index j = i; j < d; ++j)
          flat[at++] = i == j ? std::log(prec_chol[k](i, i)) : prec_chol[k](i, j);
  } else {
    for (Index k = 0; k < K; ++k)
      for (Index j = 0; j < log_sd.cols(); ++j) flat[at++] = log_sd(k, j);
  }
  METAGMM_CHECK(at == flat.size(), "pack: layout mismatch");
  return flat;
}

Gmm Gmm::unpack(GmmShape s, const Vector& flat) {
  METAGMM_CHECK(flat.size() == s.parameter_count(), "unpack: wrong flat vector length");
  Gmm g(s);
  const Index K = s.components, d = s.dim;
  Index at = 0;
  g.logits = flat.segment(at, K);
  at += K;
  for (Index k = 0; k < K; ++k, at += d) g.means.row(k) = flat.segment(at, d).transpose();
  if (s.covariance == CovarianceType::full) {
    for (Index k = 0; k < K; ++k) {
      Matrix& u = g.prec_chol[k];
      u.setZero();
      for (Index i = 0; i < d; ++i)
        for (Index j = i; j < d; ++j) u(i, j) = i == j ? std::exp(flat[at++]) : flat[at++];
    }
  } else {
    for (Index k = 0; k < K; ++k)
      for (Index j = 0; j < g.log_sd.cols(); ++j) g.log_sd(k, j) = flat[at++];
  }
  return g;
}

GmmMoments to_moments(const Gmm& g) {
  GmmMoments m;
  m.covariance = g.shape.covariance;
  m.weights = g.weights();
  m.means = g.means;
  if (g.shape.covariance == CovarianceType::full) {
    for (Index k = 0; k < g.shape.components; ++k) m.covariances.push_back(covariance_matrix(g, k));
  } else {
    m.variances = (2.0 * g.log_sd.array()).exp().matrix();
  }
  return m;
}

Gmm from_moments(const GmmMoments& m) {
  const Index K = m.weights.size(), d = m.means.cols();
  METAGMM_CHECK(m.means.rows() == K, "from_moments: means and weights disagree on K");
  Gmm g(GmmShape{K, d, m.covariance});
  if ((m.weights.array() <= 0.0).any() || !m.weights.allFinite()) {
    throw NumericError("mixture weights must be positive and finite");
  }
  g.logits = m.weights.array().log().matrix();
  g.means = m.means;
  if (m.covariance == CovarianceType::full) {
    METAGMM_CHECK(static_cast<Index>(m.covariances.size()) == K, "from_moments: need K covariances");
    for (Index k = 0; k < K; ++k) {
      Eigen::LLT<Matrix> chol(m.covariances[k]);
      if (chol.info() != Eigen::Success || !m.covariances[k].allFinite()) {
        throw NumericError("component " + std::to_string(k) +
                           " has a covariance that is not positive definite (a larger variance floor, reg-covar, "
                           "or fewer components may help)");
      }
      // U = L^-T where Sigma = L L^T, so U U^T = Sigma^-1 (scikit-learn's convention).
      Matrix lower_inverse = chol.matrixL().solve(Matrix::Identity(d, d));
      g.prec_chol[k] = lower_inverse.transpose().triangularView<Eigen::Upper>();
    }
  } else {
    const Index cols = m.covariance == CovarianceType::diag ? d : 1;
    METAGMM_CHECK(m.variances.rows() == K && m.variances.cols() == cols, "from_moments: variance shape");
    if (!(m.variances.array() > 0.0).all() || !m.variances.allFinite()) {
      throw NumericError("a component variance is not positive (a larger variance floor, reg-covar, or fewer "
                         "components may help)");
    }
    g.log_sd = (0.5 * m.variances.array().log()).matrix();
  }
  return g;
}

Matrix covariance_matrix(const Gmm& g, Index k) {
  const Index d = g.shape.dim;
  switch (g.shape.covariance) {
    case CovarianceType::diag:
      return (2.0 * g.log_sd.row(k).array()).exp().matrix().asDiagonal();
    case CovarianceType::spherical:
      return Matrix::Identity(d, d) * std::exp(2.0 * g.log_sd(k, 0));
    case CovarianceType::full: {
      // Sigma = (U U^T)^-1 = U^-T U^-1.
      const Matrix u_inverse = g.prec_chol[k].triangularView<Eigen::Upper>().solve(Matrix::Identity(d, d));
      return u_inverse.transpose() * u_inverse;
    }
  }
  METAGMM_CHECK(false, "unknown covariance type");
}

Matrix precision_cholesky(const Gmm& g, Index k) {
  if (g.shape.covariance == CovarianceType::full) return g.prec_chol[k];
  return (-g.log_sd.row(k).array()).exp().matrix();
}

}  // namespace metagmm::gmm
