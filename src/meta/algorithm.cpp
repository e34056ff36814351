#include "metagmm/meta/algorithm.hpp"

#include "metagmm/core/error.hpp"

namespace metagmm::meta {

Vector Algorithm::adapted_model(const Vector&, RowMatrixRef) {
  throw InputError(name() + " learns no mixture to adapt");
}

void Algorithm::adaptation_path(const Vector&, RowMatrixRef, int, std::vector<Vector>&) {
  throw InputError(name() + " learns no mixture to adapt");
}

}  // namespace metagmm::meta
