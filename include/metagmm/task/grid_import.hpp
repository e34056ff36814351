#pragma once
// metagmm import --netcdf: gridded variables of a netCDF file (classic or netCDF-4) as a task
// set. Every variable named in `variables` must have the same dimensions; two of them are the
// box coordinates (e.g. latitude and longitude). A grid cell whose variables are all present is
// a point: its coordinates are the variables' values, then any extra coordinates (the values of
// other dimensions' coordinate variables, e.g. log depth). A task is one box of `box_size` x
// `box_size` coordinate units, kept when it holds at least `min_points` points; boxes are grouped
// into blocks of `block_size` units and whole blocks are assigned to the splits (seeded), so that
// test regions are unseen in training. Coordinates are standardised on the training split.
//
// The task set records its source file and settings, the box of every task (/task_coordinates:
// the box's lower bounds on the two box coordinates) and the standardisation.
#include <cstdint>
#include <string>
#include <vector>

#include "metagmm/task/taskset.hpp"

namespace metagmm::task {

struct ExtraCoordinate {
  std::string name;   // a dimension with a coordinate variable of the same name
  bool log1p = false; // stored as log(1 + value): depths from 0 spread over decades
  // "NAME" or "NAME:log1p"; InputError naming `what` otherwise.
  static ExtraCoordinate parse(const std::string& text, const std::string& what);
};

struct GridImportOptions {
  std::vector<std::string> variables;  // the point coordinates read from the grid, in order
  std::string box_y, box_x;            // the box dimensions; empty: the variables' last two
  double box_size = 10.0;
  std::vector<ExtraCoordinate> extra;
  std::int64_t min_points = 400;
  double block_size = 30.0;  // a multiple of box_size
  SplitFractions split{0.6, 0.2, 0.2};
  std::uint64_t seed = 0;
  bool standardise = true;
};

struct GridImportSummary {
  Index tasks = 0, points = 0, missing = 0, small_boxes = 0;  // missing: cells skipped
};

// Writes the task set atomically; InputError (naming the file and what was expected) for a
// missing file or variable, a grid without the named coordinates, options no box can meet.
GridImportSummary import_grid(const std::string& netcdf_path, const std::string& out_path, const GridImportOptions& options);

}  // namespace metagmm::task
