#pragma once
// Maps from raw input coordinates to the coordinates a task set stores, fitted on the training
// split only and stored with the task set so that new raw data can be mapped the same way:
//   standardisation: x = (raw - offset) / scale     (/standardisation/offset, /scale; [d])
//   projection:      x = (raw * input_scale - mean) components^T
//                    (/projection/mean [p], /projection/components [d, p], attribute input_scale)
// Temperature and salinity have different units; 784 pixels are too many coordinates for a
// mixture: these are the two maps metagmm import fits.
#include <optional>
#include <string>

#include "metagmm/core/types.hpp"

namespace metagmm::task {

class TaskSetWriter;

struct Standardisation {
  Vector offset, scale;
  // The mean and standard deviation of each column of `points` (its rows: the training split's).
  // A column with no spread keeps scale 1. InputError naming `what` when there are no rows.
  static Standardisation fit(const RowMatrix& points, const std::string& what);
  RowMatrix apply(const RowMatrix& raw) const;
  void write(TaskSetWriter& writer) const;
};

struct Projection {
  double input_scale = 1.0;
  Vector mean;           // p, of the scaled inputs
  RowMatrix components;  // d x p, orthonormal rows, by decreasing variance
  // Principal components of `inputs` (rows: the training classes' raw inputs) times
  // `input_scale`: the d of largest variance, each signed so that its largest-magnitude entry
  // is positive (so the same data give the same map on any machine).
  static Projection fit_pca(const RowMatrix& inputs, double input_scale, Index dim, const std::string& what);
  RowMatrix apply(const RowMatrix& raw) const;
  void write(TaskSetWriter& writer) const;
};

// The map a task set stores (at most one of the two), for data given in raw units.
struct StoredTransform {
  std::optional<Standardisation> standardisation;
  std::optional<Projection> projection;
  // The task set's map; InputError naming the file when it stores none.
  static StoredTransform read(const std::string& task_set_path);
  Index input_width() const;
  RowMatrix apply(const RowMatrix& raw) const;
};

}  // namespace metagmm::task
