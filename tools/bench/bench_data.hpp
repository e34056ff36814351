#pragma once
// The benchmark cases' data and starting points, shared by our benchmark and the VLFeat peer
// so that both run on exactly what tools/bench/em.py gives scikit-learn. A case file holds
// T tasks of N points each: /X [T*N, d], /weights [T, K], /means [T, K, d],
// /covariances [T, K, d] (diag) or [T, K, d, d] (full), and attributes name, tasks, points,
// components, dim, covariance_type, iterations.
#include <string>
#include <vector>

#include "metagmm/gmm/params.hpp"
#include "metagmm/h5/file.hpp"

namespace metagmm::bench {

struct BenchCase {
  std::string name;
  Index tasks = 1, points = 0, components = 0, dim = 0;
  int iterations = 1;  // EM iterations timed per task
  gmm::CovarianceType covariance = gmm::CovarianceType::diag;
  RowMatrix X;
  std::vector<gmm::GmmMoments> starts;  // one per task
  RowMatrix task_points(Index t) const { return X.middleRows(t * points, points); }
};

inline BenchCase read_case(const std::string& path) {
  const h5::File file = h5::File::open(path);
  BenchCase c;
  c.name = file.require_string_attribute("/", "name");
  c.tasks = file.require_int_attribute("/", "tasks");
  c.points = file.require_int_attribute("/", "points");
  c.components = file.require_int_attribute("/", "components");
  c.dim = file.require_int_attribute("/", "dim");
  c.iterations = static_cast<int>(file.require_int_attribute("/", "iterations"));
  c.covariance = gmm::parse_covariance_type(file.require_string_attribute("/", "covariance_type"), path);
  const bool full = c.covariance == gmm::CovarianceType::full;
  c.X.resize(c.tasks * c.points, c.dim);
  file.dataset("/X", h5::Dtype::float64, 2).read_rows<double>(0, c.tasks * c.points, c.X.data());
  const auto weights = file.dataset("/weights", h5::Dtype::float64, 2).read_all<double>();
  const auto means = file.dataset("/means", h5::Dtype::float64, 3).read_all<double>();
  const auto covariances = file.dataset("/covariances", h5::Dtype::float64, full ? 4 : 3).read_all<double>();
  const Index K = c.components, d = c.dim;
  for (Index t = 0; t < c.tasks; ++t) {
    gmm::GmmMoments m;
    m.covariance = c.covariance;
    m.weights = Eigen::Map<const Vector>(weights.data() + t * K, K);
    m.means = Eigen::Map<const RowMatrix>(means.data() + t * K * d, K, d);
    if (full) {
      for (Index k = 0; k < K; ++k) m.covariances.push_back(Eigen::Map<const RowMatrix>(covariances.data() + (t * K + k) * d * d, d, d));
    } else {
      m.variances = Eigen::Map<const RowMatrix>(covariances.data() + t * K * d, K, d);
    }
    c.starts.push_back(std::move(m));
  }
  return c;
}

}  // namespace metagmm::bench
