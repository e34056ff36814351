#pragma once
#include "metagmm/core/random.hpp"
#include "metagmm/gmm/params.hpp"

namespace metagmm::gmm {

// Draws n points from the mixture; if `labels` is given it receives each point's component.
RowMatrix sample(const Gmm& gmm, Index n, RandomStream& random, IntVector* labels = nullptr);

}  // namespace metagmm::gmm
