#pragma once
// A throw-away algorithm registered through the registry alone (docs/extending.md walks
// through it): "toy-fomaml" adapts by a few plain gradient steps and meta-learns the start with
// the first-order meta-gradient (the query gradient at the adapted mixture). It carries one extra
// block of meta-parameters, "log_unused_scale", that nothing changes, so that tests see an extra
// block stored, resumed and read back by name. Nothing in src/ knows of it.
#include "metagmm/meta/registry.hpp"

namespace metagmm::toy {

// Adds "toy-fomaml" to the registry (once; later calls do nothing).
void register_toy_algorithm();

}  // namespace metagmm::toy
