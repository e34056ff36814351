#pragma once
// Starting points for EM: k-means++ seeding refined by Lloyd's k-means (scikit-learn's
// default start, init_params="kmeans"), or K distinct random points. Either way the points
// are then assigned to their nearest centre and one M-step gives weights, means and
// covariances (with the reg_covar floor).
#include <string_view>

#include "metagmm/core/random.hpp"
#include "metagmm/gmm/params.hpp"

namespace metagmm::gmm {

enum class InitMethod { kmeans_plus_plus, random_points };

// "kmeans++" or "random"; throws InputError naming `what` otherwise.
InitMethod parse_init_method(std::string_view text, std::string_view what);

// Greedy k-means++ seeding (Arthur and Vassilvitskii 2007) with 2 + floor(log K) candidates
// per centre, as scikit-learn does.
RowMatrix kmeans_plus_plus_seeds(RowMatrixRef points, Index components, RandomStream& random);

struct KMeansResult {
  RowMatrix centers;
  IntVector labels;
  int iterations = 0;
};

// Lloyd iterations until the centres move less than 1e-4 of the mean variance (squared) or
// max_iterations; an emptied cluster is moved to the point farthest from its centre.
KMeansResult lloyd_kmeans(RowMatrixRef points, RowMatrix centers, int max_iterations = 300);

// Index of the nearest centre for each point.
IntVector nearest_centers(RowMatrixRef points, const RowMatrix& centers);

// One M-step from hard labels: component k gets the points labelled k.
Gmm gmm_from_labels(RowMatrixRef points, const IntVector& labels, const RowMatrix& centers,
                    GmmShape shape, double reg_covar);

// Throws InputError if there are fewer points than components.
Gmm initialize(RowMatrixRef points, GmmShape shape, InitMethod method, double reg_covar,
               RandomStream& random);

}  // namespace metagmm::gmm
