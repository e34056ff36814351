#pragma once
// The linear and metric baselines of few-shot evaluation: prototypes after a linear map x -> x L
// fitted on the training split's labelled points, beside the raw features (L = I):
//   - PCA: the m principal directions of the pooled training points;
//   - shrinkage LDA: the metric Sigma_lambda^{-1} of the within-class covariance shrunk towards
//     the identity, Sigma_lambda = (1 - lambda) Sigma_w + lambda (tr Sigma_w / d) I, as the map
//     L = Sigma_lambda^{-1/2} (so that |x L - c L|^2 is the Mahalanobis distance).
// m and lambda are chosen by accuracy on validation episodes (held-out classes when the task set
// has them): a learned encoder is compared with the best linear answer, not a weak one.
#include <string>
#include <vector>

#include "metagmm/core/types.hpp"
#include "metagmm/task/fewshot.hpp"

namespace metagmm::eval {

struct LinearBaseline {
  std::string name;        // "PCA of the train split (m = 16)", ...
  Matrix map;              // d x m
  double validation = 0.0; // its mean validation accuracy
};

// The training split's labelled points' covariances, classes keyed by (task, label).
struct TrainingCovariances {
  Matrix total;   // of the pooled points
  Matrix within;  // pooled within-class: sum over classes of the scatter about the class mean / (N - C)
};
TrainingCovariances training_covariances(task::TaskSource& source);

// The top `m` eigenvectors of `total` as columns, by decreasing eigenvalue.
Matrix pca_map(const Matrix& total, Index m);
// Sigma_lambda^{-1/2} (symmetric); InputError if lambda is outside (0, 1] or Sigma_w is zero.
Matrix shrinkage_lda_map(const Matrix& within, double lambda);

// Mean accuracy of prototypes after `map` on `count` validation episodes of `sampler`.
double validation_accuracy(task::FewShotSampler& sampler, const Matrix& map, Index count);

// PCA and shrinkage LDA, each with its setting of best validation accuracy over `count` episodes.
std::vector<LinearBaseline> fit_linear_baselines(task::TaskSource& source, task::FewShotSampler& sampler, Index count);

}  // namespace metagmm::eval
