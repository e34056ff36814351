#include "metagmm/gmm/bayes.hpp"

#include <boost/math/special_functions/digamma.hpp>
#include <boost/math/special_functions/trigamma.hpp>
#include <cmath>
#include <numbers>

#include "metagmm/core/error.hpp"

namespace metagmm::gmm {
namespace {

constexpr double kLogTwoPi = 1.8378770664093454836;  // log(2 pi)

// The adjoint of one posterior state (or of the prior's first E-step model).
struct StateAdjoint {
  Vector alpha;
  RowMatrix mean, mean_variance, variance;
  StateAdjoint(Index K, Index d)
      : alpha(Vector::Zero(K)), mean(RowMatrix::Zero(K, d)), mean_variance(RowMatrix::Zero(K, d)),
        variance(RowMatrix::Zero(K, d)) {}
};

// What an E-step weighs component k of point i by, before normalising:
//   L_ik = log_weight_k + offset_k - 0.5 sum_j [log(2 pi v_kj) + (x_ij - c_kj)^2 / v_kj].
struct EStepModel {
  Vector log_weight, offset;
  RowMatrix centre, variance;
};

EStepModel first_e_step(const HierarchicalPrior& prior) {
  const Index K = prior.shape.components;
  return {(prior.concentration / prior.concentration.sum()).array().log(), Vector::Zero(K), prior.mean,
          prior.first_variance};
}

// The expected log-density under q: E log w_k = psi(alpha_k) - psi(sum alpha), and the mean's
// uncertainty costs -0.5 sum_j P_kj / v_kj.
EStepModel later_e_step(const PosteriorState& q) {
  const Index K = q.alpha.size();
  EStepModel model{Vector(K), Vector(K), q.mean, q.variance};
  const double total = boost::math::digamma(q.alpha.sum());
  for (Index k = 0; k < K; ++k) {
    model.log_weight[k] = boost::math::digamma(q.alpha[k]) - total;
    model.offset[k] = -0.5 * (q.mean_variance.row(k).array() / q.variance.row(k).array()).sum();
  }
  return model;
}

// A K x d matrix as the stacked vector u (row by row), and back.
Eigen::Map<const Vector> stacked(const RowMatrix& x) { return {x.data(), x.size()}; }
Eigen::Map<Vector> stacked(RowMatrix& x) { return {x.data(), x.size()}; }

// The strictly-lower entries of a square matrix, row by row (the flat form of a coupling), and back.
Vector strictly_lower(const Matrix& x) {
  Vector flat(x.rows() * (x.rows() - 1) / 2);
  Index at = 0;
  for (Index r = 1; r < x.rows(); ++r)
    for (Index c = 0; c < r; ++c) flat[at++] = x(r, c);
  return flat;
}

Matrix from_strictly_lower(Index n, const double* flat) {
  Matrix x = Matrix::Zero(n, n);
  for (Index r = 1; r < n; ++r)
    for (Index c = 0; c < r; ++c) x(r, c) = *flat++;
  return x;
}

// What every step of a coupled prior shares: L, Sigma^-1 = (L L^T)^-1 and Sigma^-1 m.
struct CoupledMeans {
  Matrix lower, precision;
  Vector shifted_mean;
};

CoupledMeans coupled_means(const HierarchicalPrior& prior) {
  const Index Kd = prior.mean.size();
  CoupledMeans c;
  c.lower = prior.mean_coupling.triangularView<Eigen::StrictlyLower>();
  c.lower.diagonal() = stacked(prior.between_variance).array().sqrt();
  const Matrix inverse = c.lower.triangularView<Eigen::Lower>().solve(Matrix::Identity(Kd, Kd));
  c.precision = inverse.transpose() * inverse;
  c.shifted_mean = c.precision * stacked(prior.mean);
  return c;
}

void responsibilities(const EStepModel& model, RowMatrixRef points, RowMatrix& gamma) {
  const Index N = points.rows(), K = model.centre.rows();
  gamma.resize(N, K);
  Vector constant(K);
  for (Index k = 0; k < K; ++k)
    constant[k] = model.log_weight[k] + model.offset[k] -
                  0.5 * (model.variance.row(k).array().log() + kLogTwoPi).sum();
  const RowMatrix precision = model.variance.cwiseInverse();
  for (Index i = 0; i < N; ++i) {
    for (Index k = 0; k < K; ++k)
      gamma(i, k) = constant[k] - 0.5 * ((points.row(i) - model.centre.row(k)).array().square() *
                                         precision.row(k).array()).sum();
    const double top = gamma.row(i).maxCoeff();
    gamma.row(i) = (gamma.row(i).array() - top).exp();
    gamma.row(i) /= gamma.row(i).sum();
  }
}

}  // namespace

HierarchicalPrior::HierarchicalPrior(GmmShape s)
    : shape(s), concentration(Vector::Ones(s.components)), mean(RowMatrix::Zero(s.components, s.dim)),
      first_variance(RowMatrix::Ones(s.components, s.dim)), between_variance(RowMatrix::Ones(s.components, s.dim)),
      within_variance(RowMatrix::Ones(s.components, s.dim)), strength(RowMatrix::Ones(s.components, s.dim)) {
  METAGMM_CHECK(s.covariance == CovarianceType::diag, "HierarchicalPrior: diagonal covariances");
}

Index HierarchicalPrior::coupling_size(const GmmShape& shape) {
  const Index Kd = shape.components * shape.dim;
  return Kd * (Kd - 1) / 2;
}

Index HierarchicalPrior::flat_size(const GmmShape& shape, bool coupled) {
  return shape.parameter_count() + 1 + 3 * shape.components * shape.dim + (coupled ? coupling_size(shape) : 0);
}

HierarchicalPrior HierarchicalPrior::with_coupling() const {
  HierarchicalPrior prior = *this;
  const Index Kd = shape.components * shape.dim;
  prior.mean_coupling = Matrix::Zero(Kd, Kd);
  return prior;
}

Gmm HierarchicalPrior::first_model() const {
  Gmm model(shape);
  model.logits = concentration.array().log();
  model.means = mean;
  model.log_sd = 0.5 * first_variance.array().log();
  return model;
}

Vector HierarchicalPrior::pack() const {
  const Index P = shape.parameter_count(), Kd = shape.components * shape.dim;
  Vector flat(flat_size(shape, coupled()));
  Gmm model = first_model();
  model.logits = (concentration / concentration.sum()).array().log();
  flat.head(P) = model.pack();
  flat[P] = std::log(concentration.sum());
  Eigen::Map<RowMatrix>(flat.data() + P + 1, shape.components, shape.dim) = between_variance.array().log();
  Eigen::Map<RowMatrix>(flat.data() + P + 1 + Kd, shape.components, shape.dim) = within_variance.array().log();
  Eigen::Map<RowMatrix>(flat.data() + P + 1 + 2 * Kd, shape.components, shape.dim) = strength.array().log();
  if (coupled()) flat.tail(coupling_size(shape)) = strictly_lower(mean_coupling);
  return flat;
}

HierarchicalPrior HierarchicalPrior::unpack(const GmmShape& shape, const Vector& flat) {
  const Index P = shape.parameter_count(), K = shape.components, d = shape.dim, Kd = K * d;
  const bool coupled = flat.size() == flat_size(shape, true) && coupling_size(shape) > 0;
  METAGMM_CHECK(coupled || flat.size() == flat_size(shape), "HierarchicalPrior: flat size");
  HierarchicalPrior prior(shape);
  const Gmm model = Gmm::unpack(shape, flat.head(P));
  prior.concentration = std::exp(flat[P]) * model.weights();
  prior.mean = model.means;
  prior.first_variance = (2.0 * model.log_sd.array()).exp();
  prior.between_variance = Eigen::Map<const RowMatrix>(flat.data() + P + 1, K, d).array().exp();
  prior.within_variance = Eigen::Map<const RowMatrix>(flat.data() + P + 1 + Kd, K, d).array().exp();
  prior.strength = Eigen::Map<const RowMatrix>(flat.data() + P + 1 + 2 * Kd, K, d).array().exp();
  if (coupled) prior.mean_coupling = from_strictly_lower(Kd, flat.data() + P + 1 + 3 * Kd);
  return prior;
}

void HierarchicalPrior::validate(const std::string& what) const {
  const auto positive = [&](const auto& values, const char* name) {
    if (!(values.array() > 0.0).all() || !values.allFinite())
      throw InputError(what + ": " + name + " must be finite and > 0");
  };
  positive(concentration, "the Dirichlet concentration");
  positive(first_variance, "the first E-step variances");
  positive(between_variance, "the between-task variances");
  positive(within_variance, "the within-task variances");
  positive(strength, "the variance prior's strengths");
  if (!mean.allFinite()) throw InputError(what + ": the prior means must be finite");
  if (coupled() && (mean_coupling.rows() != mean.size() || mean_coupling.cols() != mean.size() ||
                    !mean_coupling.allFinite()))
    throw InputError(what + ": the mean coupling must be a finite Kd x Kd matrix");
}

void variational_path(const HierarchicalPrior& prior, RowMatrixRef points, int steps,
                      std::vector<PosteriorState>& path) {
  const Index K = prior.shape.components, d = prior.shape.dim, Kd = K * d;
  METAGMM_CHECK(points.cols() == d, "variational_path: dimension");
  path.resize(static_cast<std::size_t>(std::max(steps, 0)));
  const RowMatrix squares = points.array().square();
  const bool coupled = prior.coupled();
  const CoupledMeans joint = coupled ? coupled_means(prior) : CoupledMeans{};
  for (int t = 0; t < steps; ++t) {
    PosteriorState& q = path[static_cast<std::size_t>(t)];
    const EStepModel model = t == 0 ? first_e_step(prior) : later_e_step(path[static_cast<std::size_t>(t - 1)]);
    responsibilities(model, points, q.responsibilities);
    q.previous_variance = t == 0 ? prior.within_variance : path[static_cast<std::size_t>(t - 1)].variance;
    q.counts = q.responsibilities.colwise().sum().transpose();
    q.first = q.responsibilities.transpose() * points;
    q.second = q.responsibilities.transpose() * squares;
    const auto n = q.counts.replicate(1, d).array();
    const auto& vp = q.previous_variance.array();
    const auto& tau2 = prior.between_variance.array();
    if (!coupled) {
      q.mean_variance = (tau2.inverse() + n / vp).inverse();
      q.mean = q.mean_variance.array() * (prior.mean.array() / tau2 + q.first.array() / vp);
    } else {
      const RowMatrix data_precision = n / vp, data_shift = q.first.array() / vp;
      Matrix precision = joint.precision;
      precision.diagonal() += stacked(data_precision);
      const Eigen::LLT<Matrix> factor(precision);
      if (factor.info() != Eigen::Success)
        throw NumericError("variational EM: the coupled means' posterior precision is not positive definite");
      q.mean_covariance = factor.solve(Matrix::Identity(Kd, Kd));
      q.mean.resize(K, d);
      q.mean_variance.resize(K, d);
      stacked(q.mean) = q.mean_covariance * (joint.shifted_mean + stacked(data_shift));
      stacked(q.mean_variance) = q.mean_covariance.diagonal();
    }
    const auto& mu = q.mean.array();
    const auto& kappa = prior.strength.array();
    q.variance = (kappa * prior.within_variance.array() + q.second.array() - 2.0 * mu * q.first.array() +
                  n * mu.square() + n * q.mean_variance.array()) /
                 (kappa + n);
    q.alpha = prior.concentration + q.counts;
    if (!q.variance.allFinite() || !(q.variance.array() > 0.0).all())
      throw NumericError("variational EM: a variance is not positive and finite");
  }
}

Gmm posterior_predictive(const PosteriorState& q, const GmmShape& shape) {
  Gmm model(shape);
  model.logits = q.alpha.array().log();
  model.means = q.mean;
  model.log_sd = 0.5 * (q.variance + q.mean_variance).array().log();
  return model;
}

Vector variational_path_gradient(const HierarchicalPrior& prior, RowMatrixRef points,
                                 const std::vector<PosteriorState>& path, const Vector& predictive_adjoint) {
  const Index K = prior.shape.components, d = prior.shape.dim, P = prior.shape.parameter_count();
  const Index N = points.rows();
  METAGMM_CHECK(predictive_adjoint.size() == P, "variational_path_gradient: adjoint size");
  const Vector logit_bar = predictive_adjoint.head(K);
  const auto mean_bar = Eigen::Map<const RowMatrix>(predictive_adjoint.data() + K, K, d);
  const auto log_sd_bar = Eigen::Map<const RowMatrix>(predictive_adjoint.data() + K + K * d, K, d);

  // Adjoints of the prior's quantities.
  Vector alpha_bar = Vector::Zero(K), log_pi_bar = Vector::Zero(K);
  RowMatrix m_bar = RowMatrix::Zero(K, d), e_bar = RowMatrix::Zero(K, d), tau2_bar = RowMatrix::Zero(K, d),
            s2_bar = RowMatrix::Zero(K, d), kappa_bar = RowMatrix::Zero(K, d);
  const bool coupled = prior.coupled();
  const CoupledMeans joint = coupled ? coupled_means(prior) : CoupledMeans{};
  Matrix precision_bar;      // of Sigma^-1
  Vector shifted_mean_bar;   // of Sigma^-1 m
  if (coupled) {
    precision_bar = Matrix::Zero(K * d, K * d);
    shifted_mean_bar = Vector::Zero(K * d);
  }

  if (path.empty()) {  // the loss was taken at the first E-step's model itself
    log_pi_bar = logit_bar;  // logits are log pi up to a constant that softmax ignores
    m_bar = mean_bar;
    e_bar = 0.5 * log_sd_bar.array() / prior.first_variance.array();
  } else {
    std::vector<StateAdjoint> adjoint(path.size(), StateAdjoint(K, d));
    {  // the predictive: logits log alpha', means muhat, log sd 0.5 log(v + P)
      const PosteriorState& q = path.back();
      StateAdjoint& a = adjoint.back();
      a.alpha = logit_bar.array() / q.alpha.array();
      a.mean = mean_bar;
      const RowMatrix spread_bar = 0.5 * log_sd_bar.array() / (q.variance + q.mean_variance).array();
      a.variance = spread_bar;
      a.mean_variance = spread_bar;
    }
    const RowMatrix squares = points.array().square();
    RowMatrix gamma_bar(N, K), ell_bar(N, K);
    for (std::size_t t = path.size(); t-- > 0;) {
      const PosteriorState& q = path[t];
      StateAdjoint& a = adjoint[t];
      const auto n = q.counts.replicate(1, d).array();
      const auto& vp = q.previous_variance.array();
      const auto& tau2 = prior.between_variance.array();
      const auto& kappa = prior.strength.array();
      const auto& s2 = prior.within_variance.array();
      const auto& mu = q.mean.array();
      const auto& Pq = q.mean_variance.array();
      const auto& F = q.first.array();
      // v = (kappa s2 + ESS) / D, D = kappa + n
      const RowMatrix D = kappa + n;
      const RowMatrix ess_bar = a.variance.array() / D.array();
      kappa_bar.array() += a.variance.array() * (s2 - q.variance.array()) / D.array();
      s2_bar.array() += a.variance.array() * kappa / D.array();
      RowMatrix n_bar = -a.variance.array() * q.variance.array() / D.array();
      // ESS = Q - 2 muhat F + n muhat^2 + n P
      const RowMatrix Q_bar = ess_bar;
      RowMatrix F_bar = -2.0 * mu * ess_bar.array();
      RowMatrix mu_bar = a.mean.array() + ess_bar.array() * (2.0 * n * mu - 2.0 * F);
      n_bar.array() += ess_bar.array() * (mu.square() + Pq);
      RowMatrix P_bar = a.mean_variance.array() + ess_bar.array() * n;
      RowMatrix vp_bar;
      if (!coupled) {
        // muhat = P B, B = m / tau2 + F / v_prev
        const RowMatrix B = prior.mean.array() / tau2 + F / vp;
        P_bar.array() += mu_bar.array() * B.array();
        const RowMatrix B_bar = mu_bar.array() * Pq;
        m_bar.array() += B_bar.array() / tau2;
        tau2_bar.array() -= B_bar.array() * prior.mean.array() / tau2.square();
        F_bar.array() += B_bar.array() / vp;
        vp_bar = -B_bar.array() * F / vp.square();
        // P = 1 / R, R = 1 / tau2 + n / v_prev
        const RowMatrix R_bar = -P_bar.array() * Pq.square();
        tau2_bar.array() -= R_bar.array() / tau2.square();
        n_bar.array() += R_bar.array() / vp;
        vp_bar.array() -= R_bar.array() * n / vp.square();
      } else {
        // muhat = P h, h = Sigma^-1 m + F / v_prev, P = Lambda^-1, Lambda = Sigma^-1 + diag(n / v_prev):
        // h_bar = P muhat_bar, Lambda_bar = -h_bar muhat^T - P diag(P_bar) P (P_bar: of P's diagonal).
        const Matrix& cov = q.mean_covariance;
        RowMatrix h_bar(K, d);
        stacked(h_bar) = cov * stacked(mu_bar);
        F_bar.array() += h_bar.array() / vp;
        vp_bar = -h_bar.array() * F / vp.square();
        shifted_mean_bar += stacked(h_bar);
        Matrix lambda_bar = -stacked(h_bar) * stacked(q.mean).transpose();
        lambda_bar.noalias() -= cov * stacked(P_bar).asDiagonal() * cov;
        precision_bar += 0.5 * (lambda_bar + lambda_bar.transpose());
        RowMatrix data_precision_bar(K, d);
        stacked(data_precision_bar) = lambda_bar.diagonal();
        n_bar.array() += data_precision_bar.array() / vp;
        vp_bar.array() -= data_precision_bar.array() * n / vp.square();
      }
      // alpha' = alpha + n
      alpha_bar += a.alpha;
      Vector count_bar = n_bar.rowwise().sum() + a.alpha;
      // The statistics from the responsibilities, then through the softmax.
      gamma_bar.noalias() = points * F_bar.transpose() + squares * Q_bar.transpose();
      gamma_bar.rowwise() += count_bar.transpose();
      const RowMatrix& g = q.responsibilities;
      const Vector centre_bar = (g.array() * gamma_bar.array()).rowwise().sum();
      ell_bar = g.array() * (gamma_bar.colwise() - centre_bar).array();
      // Into the E-step's model.
      const EStepModel model = t == 0 ? first_e_step(prior) : later_e_step(path[t - 1]);
      const Vector weight_bar = ell_bar.colwise().sum().transpose();
      const RowMatrix precision = model.variance.cwiseInverse();
      RowMatrix centre_adj = RowMatrix::Zero(K, d), variance_adj = RowMatrix::Zero(K, d);
      for (Index k = 0; k < K; ++k) {
        for (Index i = 0; i < N; ++i) {
          const auto y = (points.row(i) - model.centre.row(k)).array();
          centre_adj.row(k).array() += ell_bar(i, k) * y * precision.row(k).array();
          variance_adj.row(k).array() += ell_bar(i, k) * 0.5 * (y.square() * precision.row(k).array().square() -
                                                                precision.row(k).array());
        }
      }
      if (t == 0) {
        log_pi_bar += weight_bar;
        m_bar += centre_adj;
        e_bar += variance_adj;
        s2_bar += vp_bar;
      } else {
        const PosteriorState& previous = path[t - 1];
        StateAdjoint& b = adjoint[t - 1];
        b.mean += centre_adj;
        b.variance += variance_adj + vp_bar;
        // offset_k = -0.5 sum_j P_kj / v_kj
        b.mean_variance.array() -= 0.5 * (weight_bar.replicate(1, d).array() / previous.variance.array());
        b.variance.array() +=
            0.5 * weight_bar.replicate(1, d).array() * previous.mean_variance.array() / previous.variance.array().square();
        // log_weight_k = psi(alpha_k) - psi(sum alpha)
        const double total = boost::math::trigamma(previous.alpha.sum()) * weight_bar.sum();
        for (Index k = 0; k < K; ++k) b.alpha[k] += boost::math::trigamma(previous.alpha[k]) * weight_bar[k] - total;
      }
    }
  }

  Vector coupling_bar;
  if (coupled) {  // Sigma^-1 m, then Sigma^-1 = (L L^T)^-1, L = diag(sqrt tau2) + C
    stacked(m_bar) += joint.precision * shifted_mean_bar;
    precision_bar += 0.5 * (shifted_mean_bar * stacked(prior.mean).transpose() +
                            stacked(prior.mean) * shifted_mean_bar.transpose());
    const Matrix sigma_bar = -joint.precision * precision_bar * joint.precision;
    const Matrix lower_bar = 2.0 * sigma_bar * joint.lower;
    stacked(tau2_bar).array() += 0.5 * lower_bar.diagonal().array() / joint.lower.diagonal().array();
    coupling_bar = strictly_lower(lower_bar);
  }

  // To the flat form: alpha = A pi, pi = softmax(logits), e = exp(2 log_sd), the rest exp(log x).
  Vector gradient = Vector::Zero(HierarchicalPrior::flat_size(prior.shape, coupled));
  const double A = prior.concentration.sum();
  const Vector pi = prior.concentration / A;
  const Vector pi_bar = A * alpha_bar + Vector(log_pi_bar.array() / pi.array());
  gradient.head(K) = pi.array() * (pi_bar.array() - pi.dot(pi_bar));
  Eigen::Map<RowMatrix>(gradient.data() + K, K, d) = m_bar;
  Eigen::Map<RowMatrix>(gradient.data() + K + K * d, K, d) = 2.0 * e_bar.array() * prior.first_variance.array();
  gradient[P] = alpha_bar.dot(prior.concentration);
  const Index Kd = K * d;
  Eigen::Map<RowMatrix>(gradient.data() + P + 1, K, d) = tau2_bar.array() * prior.between_variance.array();
  Eigen::Map<RowMatrix>(gradient.data() + P + 1 + Kd, K, d) = s2_bar.array() * prior.within_variance.array();
  Eigen::Map<RowMatrix>(gradient.data() + P + 1 + 2 * Kd, K, d) = kappa_bar.array() * prior.strength.array();
  if (coupled) gradient.tail(coupling_bar.size()) = coupling_bar;
  return gradient;
}

}  // namespace metagmm::gmm
