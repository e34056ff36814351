#include "metagmm/gmm/gradient.hpp"

#include <algorithm>
#include <vector>

#include "dual.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/gmm/kernels.hpp"

namespace metagmm::gmm {
namespace {

// The gradient of L(theta; X) from the statistics S taken at theta, written once over the
// scalar type T. With T = double it is the gradient. With T = Dual, theta + v e and S + dS e
// (dS the statistics' derivative along v, same centres) give the gradient's derivative along v:
// the Hessian-vector product H v. The centres c are constants: the gradient does not depend on
// them, and the statistics' derivative is taken with them held fixed.
//
// Moments about the means from moments about the centres (o = mu - c):
//   m1 = sum r (x - mu) = first - n o,
//   m2 = sum r (x - mu)^2 = second - 2 o first + n o^2                        (diag/spherical),
//   C = sum r (x - mu)(x - mu)^T = scatter - first o^T - o first^T + n o o^T  (full).
// Scalar loops: for the small mixtures of the inner loop, expression set-up would cost more than
// the arithmetic, and they serve both scalar types.
template <typename T>
void gradient_of(const GmmShape& shape, const Vector& theta, const Vector* direction, const Statistics& s,
                 const Statistics* ds, T* gradient) {
  using std::exp;  // for T = double; a Dual's exp is found by argument-dependent lookup
  const Index K = shape.components, d = shape.dim;
  const double scale = 1.0 / static_cast<double>(s.points);
  auto parameter = [&](Index i) { return lift<T>(theta[i], direction ? (*direction)[i] : 0.0); };
  auto n = [&](Index k) { return lift<T>(s.weight_sum[k], ds ? ds->weight_sum[k] : 0.0); };
  auto first = [&](Index k, Index j) { return lift<T>(s.first(k, j), ds ? ds->first(k, j) : 0.0); };

  // d/da_k: pi_k - n_k / N, pi = softmax(a) (shifted by the largest logit: exp stays in range).
  double largest = theta[0];
  for (Index k = 1; k < K; ++k) largest = std::max(largest, theta[k]);
  std::vector<T> weights(static_cast<std::size_t>(K));
  T total = 0.0;
  for (Index k = 0; k < K; ++k) {
    weights[k] = exp(parameter(k) - largest);
    total += weights[k];
  }
  for (Index k = 0; k < K; ++k) gradient[k] = weights[k] / total - scale * n(k);

  const Index means = K, covariance = K + K * d;
  if (shape.covariance == CovarianceType::full) {
    // log N = -|U^T (x - mu)|^2 / 2 + sum_j log U_jj + const, so
    //   d/dmu = U U^T (x - mu),  d/dU_ij = -(C U)_ij (i < j),  d/dlog U_jj = -(C U)_jj U_jj + 1.
    const Index pairs = d * (d + 1) / 2;
    std::vector<T> u(static_cast<std::size_t>(d * d)), c(static_cast<std::size_t>(d * d)), o(d), m1(d), t(d);
    for (Index k = 0; k < K; ++k) {
      for (Index i = 0, p = covariance + k * pairs; i < d; ++i)
        for (Index j = 0; j < d; ++j) u[i * d + j] = j < i ? T(0.0) : i == j ? exp(parameter(p++)) : parameter(p++);
      for (Index j = 0; j < d; ++j) {
        o[j] = parameter(means + k * d + j) - s.centers(k, j);
        m1[j] = first(k, j) - n(k) * o[j];
      }
      for (Index j = 0; j < d; ++j) {  // t = U^T m1
        T sum = 0.0;
        for (Index i = 0; i <= j; ++i) sum += u[i * d + j] * m1[i];
        t[j] = sum;
      }
      for (Index i = 0; i < d; ++i) {  // d/dmu = -(1/N) U t
        T sum = 0.0;
        for (Index j = i; j < d; ++j) sum += u[i * d + j] * t[j];
        gradient[means + k * d + i] = -scale * sum;
      }
      for (Index i = 0; i < d; ++i)
        for (Index j = 0; j < d; ++j) {
          const T scatter = lift<T>(s.scatter[k](i, j), ds ? ds->scatter[k](i, j) : 0.0);
          c[i * d + j] = scatter - first(k, i) * o[j] - o[i] * first(k, j) + n(k) * o[i] * o[j];
        }
      for (Index i = 0, p = covariance + k * pairs; i < d; ++i)
        for (Index j = i; j < d; ++j, ++p) {
          T cu = 0.0;  // (C U)_ij, U upper triangular
          for (Index l = 0; l <= j; ++l) cu += c[i * d + l] * u[l * d + j];
          gradient[p] = i == j ? scale * (cu * u[i * d + i] - n(k)) : scale * cu;
        }
    }
  } else {
    // d/dmu = P (x - mu);  d/dlog sd_j = P_j (x_j - mu_j)^2 - 1 (summed over j if spherical).
    const bool diag = shape.covariance == CovarianceType::diag;
    // The precisions exp(-2 log sd), all at once (vectorised), as T: their derivative along v
    // is -2 P v_sd.
    const Index sds = diag ? K * d : K;
    std::vector<double> precisions(theta.data() + covariance, theta.data() + covariance + sds);
    for (double& p : precisions) p *= -2.0;
    exp_in_place(precisions.data(), sds);
    for (Index k = 0; k < K; ++k) {
      T spherical_sum = 0.0;
      for (Index j = 0; j < d; ++j) {
        const Index sd = covariance + (diag ? k * d + j : k);
        const double p = precisions[static_cast<std::size_t>(sd - covariance)];
        const T precision = lift<T>(p, direction ? -2.0 * p * (*direction)[sd] : 0.0);
        const T o = parameter(means + k * d + j) - s.centers(k, j);
        const T f = first(k, j);
        const T second = lift<T>(s.second(k, j), ds ? ds->second(k, j) : 0.0);
        const T m1 = f - n(k) * o;
        const T m2 = second - 2.0 * o * f + n(k) * o * o;
        gradient[means + k * d + j] = -scale * (precision * m1);
        if (diag) {
          gradient[sd] = -scale * (precision * m2 - n(k));
        } else {
          spherical_sum += precision * m2;
        }
      }
      if (!diag) gradient[covariance + k] = -scale * (spherical_sum - static_cast<double>(d) * n(k));
    }
  }
}

}  // namespace

Vector loss_gradient(const Gmm& gmm, const Statistics& stats) {
  Vector gradient(gmm.shape.parameter_count());
  gradient_of<double>(gmm.shape, gmm.pack(), nullptr, stats, nullptr, gradient.data());
  return gradient;
}

double loss_and_gradient(const Gmm& gmm, RowMatrixRef points, Evaluator& evaluator,
                         Vector& gradient) {
  const Statistics& stats = evaluator.statistics(gmm, points);
  gradient = loss_gradient(gmm, stats);
  return -stats.log_likelihood_sum / static_cast<double>(stats.points);
}

namespace {

// The directional derivative of the gradient from the statistics and their derivative.
Vector gradient_derivative(const Gmm& gmm, const Statistics& stats, const Statistics& tangent, const Vector& direction) {
  std::vector<Dual> derivative(static_cast<std::size_t>(direction.size()));
  gradient_of<Dual>(gmm.shape, gmm.pack(), &direction, stats, &tangent, derivative.data());
  Vector product(direction.size());
  for (Index i = 0; i < product.size(); ++i) product[i] = derivative[i].tangent;
  return product;
}

}  // namespace

Vector hessian_vector_product(const Gmm& gmm, const Vector& direction, RowMatrixRef points, Evaluator& evaluator) {
  METAGMM_CHECK(direction.size() == gmm.shape.parameter_count(), "Hessian-vector product: direction length");
  const auto [stats, tangent] = evaluator.tangent_statistics(gmm, direction, points);
  return gradient_derivative(gmm, stats, tangent, direction);
}

Vector hessian_vector_product(const Gmm& gmm, const Statistics& stats, const Vector& direction, RowMatrixRef points,
                              Evaluator& evaluator) {
  METAGMM_CHECK(direction.size() == gmm.shape.parameter_count(), "Hessian-vector product: direction length");
  const Statistics& tangent = evaluator.statistics_derivative(gmm, direction, points);
  METAGMM_CHECK(stats.points == tangent.points && stats.centers == tangent.centers,
                "Hessian-vector product: the statistics were taken at other parameters or points");
  return gradient_derivative(gmm, stats, tangent, direction);
}

}  // namespace metagmm::gmm
