#pragma once
// The adjusted Rand index (Hubert and Arabie 1985) between two labellings of the same points,
// as scikit-learn's adjusted_rand_score: 1 for identical partitions (whatever the label
// names), about 0 for independent ones, negative for worse than chance.
#include "metagmm/core/types.hpp"

namespace metagmm::gmm {

// Labels may be any integers; the two vectors must have the same length.
double adjusted_rand_index(const IntVector& truth, const IntVector& predicted);

}  // namespace metagmm::gmm
