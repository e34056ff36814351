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

// The settings: given (> 0), or chosen by validation accuracy (0).
struct LinearBaselineOptions {
  Index validation_episodes = 500;  // --baseline-episodes
  Index pca_components = 0;         // --pca-components: m, 1..d
  double lda_shrinkage = 0.0;       // --lda-shrinkage: lambda, (0, 1]
  bool chosen() const { return pca_components == 0 || lda_shrinkage == 0.0; }  // any setting chosen
  void validate(Index dim) const;  // SettingError naming the option
};

// PCA and shrinkage LDA on the train split, each with its given setting or its setting of best
// accuracy over the validation episodes.
std::vector<LinearBaseline> fit_linear_baselines(task::TaskSource& source, task::FewShotSampler& sampler,
                                                 const LinearBaselineOptions& options);

}  // namespace metagmm::eval
