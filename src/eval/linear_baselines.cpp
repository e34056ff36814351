#include "metagmm/eval/linear_baselines.hpp"

#include <Eigen/Eigenvalues>
#include <map>
#include <utility>

#include "metagmm/core/error.hpp"
#include "metagmm/core/text.hpp"
#include "metagmm/meta/prototypes.hpp"
#include "metagmm/meta/protonet.hpp"

namespace metagmm::eval {
namespace {

// Candidate settings: principal directions by powers of two (and all of them), and shrinkage
// from almost none to almost all (lambda = 1 is the raw features' metric up to scale).
std::vector<Index> pca_candidates(Index d) {
  std::vector<Index> m;
  for (Index k = 2; k < d; k *= 2) m.push_back(k);
  m.push_back(d);
  return m;
}
const std::vector<double> kShrinkage = {0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9};

}  // namespace

TrainingCovariances training_covariances(task::TaskSource& source) {
  const Index d = source.dim();
  Vector sum = Vector::Zero(d);
  Matrix second = Matrix::Zero(d, d);
  std::map<std::pair<Index, std::int32_t>, std::pair<Vector, Index>> classes;  // sum of points, count
  Index n = 0;
  for (const Index t : source.tasks_in(task::Split::train)) {
    const RowMatrix& points = source.points(t);
    const IntVector& labels = source.labels(t);
    for (Index i = 0; i < points.rows(); ++i) {
      if (labels[i] < 0) continue;
      const Vector x = points.row(i).transpose();
      sum += x;
      second.noalias() += x * x.transpose();
      auto& [class_sum, count] = classes.try_emplace({t, labels[i]}, Vector::Zero(d), 0).first->second;
      class_sum += x;
      ++count;
      ++n;
    }
  }
  const auto C = static_cast<Index>(classes.size());
  if (n <= C || C < 2)
    throw InputError(source.describe() + ": the linear baselines need labelled training points of at least 2 classes");
  TrainingCovariances c;
  const Vector mean = sum / static_cast<double>(n);
  c.total = (second - static_cast<double>(n) * mean * mean.transpose()) / static_cast<double>(n - 1);
  // Within: the second moment minus each class's n_c mu_c mu_c^T.
  Matrix between = Matrix::Zero(d, d);
  for (const auto& [key, entry] : classes) {
    const Vector& class_sum = entry.first;
    between.noalias() += class_sum * class_sum.transpose() / static_cast<double>(entry.second);
  }
  c.within = (second - between) / static_cast<double>(n - C);
  return c;
}

Matrix pca_map(const Matrix& total, Index m) {
  METAGMM_CHECK(m >= 1 && m <= total.rows(), "pca_map: components");
  const Eigen::SelfAdjointEigenSolver<Matrix> solver(total);
  // Eigen sorts ascending: the last m columns, reversed.
  return solver.eigenvectors().rightCols(m).rowwise().reverse();
}

Matrix shrinkage_lda_map(const Matrix& within, double lambda) {
  if (!(lambda > 0.0 && lambda <= 1.0)) throw InputError("shrinkage LDA: lambda must be in (0, 1]");
  const Index d = within.rows();
  const double average = within.trace() / static_cast<double>(d);
  if (!(average > 0.0)) throw InputError("shrinkage LDA: the training classes have no within-class spread");
  const Matrix shrunk = (1.0 - lambda) * within + lambda * average * Matrix::Identity(d, d);
  const Eigen::SelfAdjointEigenSolver<Matrix> solver(shrunk);
  return solver.operatorInverseSqrt();
}

double validation_accuracy(task::FewShotSampler& sampler, const Matrix& map, Index count) {
  const meta::RefinementOptions none{};
  task::Episode episode;
  RowMatrix stacked, embedded;
  meta::PrototypeClassifier classifier;
  double total = 0.0;
  for (Index v = 0; v < count; ++v) {
    sampler.validation(v, episode);
    meta::stack_episode(episode, none, stacked);
    embedded = stacked * map;
    classifier.forward(embedded, meta::layout_of(episode, none), episode.query_labels, none);
    total += static_cast<double>(classifier.correct()) / static_cast<double>(episode.query.rows());
  }
  return total / static_cast<double>(count);
}

void LinearBaselineOptions::validate(Index dim) const {
  if (validation_episodes < 1) throw SettingError("baseline-episodes", "expected an integer >= 1");
  if (pca_components < 0 || pca_components > dim)
    throw SettingError("pca-components", "expected 0 (chosen on validation) or 1 to d = " + std::to_string(dim));
  if (!(lda_shrinkage >= 0.0 && lda_shrinkage <= 1.0))
    throw SettingError("lda-shrinkage", "expected 0 (chosen on validation) or a number in (0, 1]");
}

std::vector<LinearBaseline> fit_linear_baselines(task::TaskSource& source, task::FewShotSampler& sampler,
                                                 const LinearBaselineOptions& options) {
  options.validate(source.dim());
  const TrainingCovariances c = training_covariances(source);
  // A given setting is the only candidate, and needs no validation episodes.
  const std::vector<Index> components =
      options.pca_components > 0 ? std::vector<Index>{options.pca_components} : pca_candidates(source.dim());
  const std::vector<double> shrinkage =
      options.lda_shrinkage > 0.0 ? std::vector<double>{options.lda_shrinkage} : kShrinkage;
  auto best_of = [&](auto candidates, auto make_map, auto describe) {
    LinearBaseline best;
    bool first = true;
    for (const auto setting : candidates) {
      Matrix map = make_map(setting);
      const double accuracy = candidates.size() == 1 ? 0.0 : validation_accuracy(sampler, map, options.validation_episodes);
      if (first || accuracy > best.validation) best = {describe(setting), std::move(map), accuracy};
      first = false;
    }
    return best;
  };
  return {best_of(
              components, [&](Index m) { return pca_map(c.total, m); },
              [](Index m) { return "PCA of the train split (m = " + std::to_string(m) + ")"; }),
          best_of(
              shrinkage, [&](double lambda) { return shrinkage_lda_map(c.within, lambda); },
              [](double lambda) { return "shrinkage LDA (lambda = " + shortest_text(lambda) + ")"; })};
}

}  // namespace metagmm::eval
