#include "metagmm/gmm/rand_index.hpp"

#include <map>
#include <utility>

#include "metagmm/core/error.hpp"

namespace metagmm::gmm {
namespace {

double pairs(double n) { return n * (n - 1.0) / 2.0; }

}  // namespace

// From the contingency table n_ij: index = sum_ij C(n_ij, 2), expected = sum_i C(a_i, 2)
// sum_j C(b_j, 2) / C(n, 2), maximum = (sum_i C(a_i, 2) + sum_j C(b_j, 2)) / 2, and
// ARI = (index - expected) / (maximum - expected), 1 when the denominator vanishes (both
// partitions trivial and equal), as scikit-learn does.
double adjusted_rand_index(const IntVector& truth, const IntVector& predicted) {
  METAGMM_CHECK(truth.size() == predicted.size(), "adjusted Rand index: labellings of different lengths");
  std::map<std::pair<std::int32_t, std::int32_t>, double> table;
  std::map<std::int32_t, double> rows, cols;
  for (Index i = 0; i < truth.size(); ++i) {
    table[{truth[i], predicted[i]}] += 1.0;
    rows[truth[i]] += 1.0;
    cols[predicted[i]] += 1.0;
  }
  double index = 0.0, row_pairs = 0.0, col_pairs = 0.0;
  for (const auto& [cell, count] : table) index += pairs(count);
  for (const auto& [label, count] : rows) row_pairs += pairs(count);
  for (const auto& [label, count] : cols) col_pairs += pairs(count);
  const double total = pairs(static_cast<double>(truth.size()));
  const double expected = total > 0 ? row_pairs * col_pairs / total : 0.0;
  const double maximum = 0.5 * (row_pairs + col_pairs);
  if (maximum == expected) return 1.0;
  return (index - expected) / (maximum - expected);
}

}  // namespace metagmm::gmm
