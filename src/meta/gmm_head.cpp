#include "metagmm/meta/gmm_head.hpp"

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/init.hpp"

namespace metagmm::meta {
namespace {

HeadFit run_em(RowMatrixRef points, gmm::Gmm start, const HeadOptions& options) {
  HeadFit fit;
  fit.model = std::move(start);
  gmm::Evaluator evaluator;
  fit.em = gmm::fit_em(fit.model, points, options.em, evaluator);
  fit.assignments = evaluator.assignments(fit.model, points);
  return fit;
}

}  // namespace

HeadFit fit_head(RowMatrixRef points, Index components, const HeadOptions& options, RandomStream& random) {
  const gmm::GmmShape shape{components, points.cols(), options.covariance};
  return run_em(points, gmm::initialize(points, shape, gmm::InitMethod::kmeans_plus_plus, options.em.reg_covar, random),
                options);
}

gmm::Gmm prototype_start(RowMatrixRef points, const IntVector& few_labels, gmm::CovarianceType covariance,
                         double reg_covar) {
  METAGMM_CHECK(few_labels.size() == points.rows(), "GMM head: one label per point");
  const Index K = few_labels.maxCoeff() + 1;
  METAGMM_CHECK(K >= 1, "GMM head: no labelled point");
  RowMatrix prototypes = RowMatrix::Zero(K, points.cols());
  Vector counts = Vector::Zero(K);
  for (Index i = 0; i < points.rows(); ++i) {
    if (few_labels[i] < 0) continue;
    prototypes.row(few_labels[i]) += points.row(i);
    counts[few_labels[i]] += 1.0;
  }
  METAGMM_CHECK(counts.minCoeff() > 0, "GMM head: a class without labelled points");
  prototypes.array().colwise() /= counts.array();
  IntVector start = gmm::nearest_centers(points, prototypes);
  for (Index i = 0; i < points.rows(); ++i)
    if (few_labels[i] >= 0) start[i] = few_labels[i];
  return gmm::gmm_from_labels(points, start, prototypes, gmm::GmmShape{K, points.cols(), covariance}, reg_covar);
}

HeadFit fit_head_from_labels(RowMatrixRef points, const IntVector& few_labels, const HeadOptions& options) {
  return run_em(points, prototype_start(points, few_labels, options.covariance, options.em.reg_covar), options);
}

}  // namespace metagmm::meta
