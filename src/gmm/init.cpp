#include "metagmm/gmm/init.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>
#include <string>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/em.hpp"

namespace metagmm::gmm {
namespace {

// Squared distance of every point to every centre (N x K).
RowMatrix squared_distances(RowMatrixRef points, const RowMatrix& centers) {
  RowMatrix distances(points.rows(), centers.rows());
  for (Index k = 0; k < centers.rows(); ++k) {
    distances.col(k) = (points.rowwise() - centers.row(k)).rowwise().squaredNorm();
  }
  return distances;
}

Index sample_proportional(const Vector& cumulative, RandomStream& random) {
  const double target = random.uniform() * cumulative[cumulative.size() - 1];
  const double* begin = cumulative.data();
  const double* found = std::upper_bound(begin, begin + cumulative.size(), target);
  return std::min<Index>(found - begin, cumulative.size() - 1);
}

}  // namespace

InitMethod parse_init_method(std::string_view text, std::string_view what) {
  if (text == "kmeans++") return InitMethod::kmeans_plus_plus;
  if (text == "random") return InitMethod::random_points;
  throw InputError(std::string(what) + ": expected kmeans++ or random, got '" + std::string(text) + "'");
}

RowMatrix kmeans_plus_plus_seeds(RowMatrixRef points, Index components, RandomStream& random) {
  const Index N = points.rows();
  RowMatrix centers(components, points.cols());
  centers.row(0) = points.row(static_cast<Index>(random.below(N)));
  Vector closest = (points.rowwise() - centers.row(0)).rowwise().squaredNorm();
  const int trials = 2 + static_cast<int>(std::log(static_cast<double>(components)));
  Vector cumulative(N);
  for (Index c = 1; c < components; ++c) {
    std::partial_sum(closest.data(), closest.data() + N, cumulative.data());
    Index best = -1;
    double best_potential = std::numeric_limits<double>::infinity();
    Vector best_closest;
    for (int t = 0; t < trials; ++t) {
      // All points coincide with chosen centres: any point will do.
      const Index candidate = cumulative[N - 1] > 0.0 ? sample_proportional(cumulative, random)
                                                      : static_cast<Index>(random.below(N));
      Vector candidate_closest =
          closest.cwiseMin((points.rowwise() - points.row(candidate)).rowwise().squaredNorm());
      const double potential = candidate_closest.sum();
      if (potential < best_potential) {
        best_potential = potential;
        best = candidate;
        best_closest = std::move(candidate_closest);
      }
    }
    centers.row(c) = points.row(best);
    closest = std::move(best_closest);
  }
  return centers;
}

IntVector nearest_centers(RowMatrixRef points, const RowMatrix& centers) {
  const RowMatrix distances = squared_distances(points, centers);
  IntVector labels(points.rows());
  for (Index n = 0; n < points.rows(); ++n) {
    Index k;
    distances.row(n).minCoeff(&k);
    labels[n] = static_cast<std::int32_t>(k);
  }
  return labels;
}

KMeansResult lloyd_kmeans(RowMatrixRef points, RowMatrix centers, int max_iterations) {
  const Index N = points.rows(), K = centers.rows(), d = points.cols();
  const Eigen::RowVectorXd mean = points.colwise().mean();
  const double variance = (points.rowwise() - mean).array().square().sum() / static_cast<double>(N * d);
  const double tolerance = 1e-4 * variance;
  KMeansResult result;
  for (int iteration = 1; iteration <= max_iterations; ++iteration) {
    result.iterations = iteration;
    const RowMatrix distances = squared_distances(points, centers);
    IntVector labels(N);
    Vector nearest(N);
    for (Index n = 0; n < N; ++n) {
      Index k;
      nearest[n] = distances.row(n).minCoeff(&k);
      labels[n] = static_cast<std::int32_t>(k);
    }
    RowMatrix sums = RowMatrix::Zero(K, d);
    Vector counts = Vector::Zero(K);
    for (Index n = 0; n < N; ++n) {
      sums.row(labels[n]) += points.row(n);
      counts[labels[n]] += 1.0;
    }
    RowMatrix updated = centers;
    for (Index k = 0; k < K; ++k) {
      if (counts[k] > 0) {
        updated.row(k) = sums.row(k) / counts[k];
      } else {
        Index farthest;
        nearest.maxCoeff(&farthest);
        updated.row(k) = points.row(farthest);
        nearest[farthest] = 0.0;
      }
    }
    const double moved = (updated - centers).squaredNorm();
    centers = std::move(updated);
    if (moved <= tolerance) break;
  }
  result.labels = nearest_centers(points, centers);
  result.centers = std::move(centers);
  return result;
}

Gmm gmm_from_labels(RowMatrixRef points, const IntVector& labels, const RowMatrix& centers,
                    GmmShape shape, double reg_covar) {
  RowMatrix one_hot = RowMatrix::Zero(points.rows(), shape.components);
  for (Index n = 0; n < points.rows(); ++n) one_hot(n, labels[n]) = 1.0;
  const Statistics stats = Evaluator::statistics_of(points, one_hot, centers, shape.covariance);
  return maximization_step(stats, shape.covariance, reg_covar);
}

Gmm initialize(RowMatrixRef points, GmmShape shape, InitMethod method, double reg_covar,
               RandomStream& random) {
  const Index N = points.rows(), K = shape.components;
  if (K > N) {
    throw InputError(std::to_string(K) + " components need at least " + std::to_string(K) +
                     " points, but the data has " + std::to_string(N));
  }
  RowMatrix centers(K, points.cols());
  if (method == InitMethod::kmeans_plus_plus) {
    centers = lloyd_kmeans(points, kmeans_plus_plus_seeds(points, K, random)).centers;
  } else {
    // K distinct indices by a partial Fisher-Yates shuffle.
    std::vector<Index> order(N);
    std::iota(order.begin(), order.end(), Index{0});
    for (Index k = 0; k < K; ++k) {
      std::swap(order[k], order[k + static_cast<Index>(random.below(N - k))]);
      centers.row(k) = points.row(order[k]);
    }
  }
  return gmm_from_labels(points, nearest_centers(points, centers), centers, shape, reg_covar);
}

}  // namespace metagmm::gmm
