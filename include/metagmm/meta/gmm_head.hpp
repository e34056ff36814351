#pragma once
// The GMM head of ProtoNet (docs/design.md, "ProtoNet"): a new task's points, embedded by the trained
// encoder, are clustered by a Gaussian mixture fitted by EM in the embedding. EM starts from
// the prototypes when a few points are labelled (each point to its nearest prototype, labelled
// points to their class, then one M-step), and from k-means++ otherwise (scikit-learn's
// default). The same functions on raw points are the baseline the encoder must beat.
#include "metagmm/core/random.hpp"
#include "metagmm/gmm/em.hpp"

namespace metagmm::meta {

struct HeadOptions {
  gmm::CovarianceType covariance = gmm::CovarianceType::diag;
  gmm::EmOptions em;
};

struct HeadFit {
  gmm::Gmm model{gmm::GmmShape{}};
  IntVector assignments;  // most responsible component of each point
  gmm::EmResult em;
};

// K components from k-means++ and Lloyd's k-means. InputError if there are fewer points than K.
HeadFit fit_head(RowMatrixRef points, Index components, const HeadOptions& options, RandomStream& random);

// The start from a few labels: K = the number of classes in `few_labels` (class 0..K-1 of a
// point, -1 unlabelled; every class needs a labelled point); the class prototypes, each point
// assigned to its nearest prototype and each labelled point to its class, then one M-step.
gmm::Gmm prototype_start(RowMatrixRef points, const IntVector& few_labels, gmm::CovarianceType covariance,
                         double reg_covar);

// EM from prototype_start: K = the number of classes in `few_labels` (class 0..K-1 of a point, -1 unlabelled; every class
// needs at least one labelled point): starts from the class prototypes.
HeadFit fit_head_from_labels(RowMatrixRef points, const IntVector& few_labels, const HeadOptions& options);

}  // namespace metagmm::meta
