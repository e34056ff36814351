#pragma once
// Synthetic task families. Each is deterministic for a seed: task t is drawn from the stream
// (seed, generate_task, t) and family-level parameters from (seed, family), so a task's
// content never depends on how many tasks are generated around it.
//   uniform:  means uniform in [-box, box]^d, one shared isotropic scale, Dirichlet weights;
//   anchored: K family anchors (means and covariances) drawn once; each task jitters them,
//             permutes them, drops each with probability `drop`, draws its own weights:
//             knowledge transfers between tasks;
//   warped:   anchored, pushed through one fixed smooth invertible map shared by the family;
//   transformed: anchored, and each task moves all its components together: one random
//             rotation (angle ~ spin), scale (log ~ N(0, zoom^2)) about the family's centre and
//             shift (~ N(0, (shift scale)^2) per coordinate), then the small per-component jitter;
//   heavy:    anchored with Student-t jitter of `tail-dof` degrees of freedom (rare large moves).
// Components that appear and disappear between tasks are anchored with --drop > 0.
#include <functional>
#include <string>

#include "metagmm/gmm/params.hpp"
#include "metagmm/task/taskset.hpp"

namespace metagmm::task {

enum class Family { uniform, anchored, warped, transformed, heavy };
std::string to_string(Family family);
Family parse_family(const std::string& text, const std::string& what);

struct GeneratorOptions {
  Family family = Family::anchored;
  Index dim = 2;                 // --dim
  Index components = 4;          // --components
  Index tasks = 1000;            // --tasks
  Index points_min = 50;         // --points MIN:MAX, points per task, uniform
  Index points_max = 200;
  std::uint64_t seed = 0;        // --seed
  gmm::CovarianceType truth_covariance = gmm::CovarianceType::diag;  // --truth-covariance
  double box = 10.0;             // --box: means (anchors) uniform in [-box, box]^d
  double scale = 1.0;            // --scale: typical component standard deviation
  double jitter = 0.5;           // --jitter: task mean offset from its anchor, in units of scale
  double drop = 0.2;             // --drop: probability a component is absent from a task
  double concentration = 5.0;    // --concentration: Dirichlet parameter of the weights
  double warp = 0.7;             // --warp: warped family's strength, amplitude*frequency in [0, 1)
  double shift = 2.0;            // --shift: transformed: the task's common shift, in units of scale
  double spin = 0.3;             // --spin: transformed: the task rotation's angle scale, radians
  double zoom = 0.2;             // --zoom: transformed: standard deviation of the task's log scale
  double tail_dof = 2.0;         // --tail-dof: heavy: degrees of freedom of the Student-t jitter
  SplitFractions split;          // --split TRAIN:VALIDATION:TEST

  void validate() const;         // throws InputError naming the option
  std::string describe() const;  // "key = value" lines, stored in the file
};

// The family's anchor mixture (anchored and warped) with equal weights.
gmm::Gmm family_anchors(const GeneratorOptions& options);
// The family's deformation (warped).
Warp family_warp(const GeneratorOptions& options);
// Task t's true mixture, its anchors, and its points with their labels.
struct GeneratedTask {
  TaskTruth truth;
  RowMatrix points;
  IntVector labels;
};
GeneratedTask generate_task(const GeneratorOptions& options, const gmm::Gmm& anchors,
                            const Warp* warp, Index task);

// Writes the whole task set to `path` (atomically). `progress` is called now and then
// with the number of tasks written.
void generate_task_set(const GeneratorOptions& options, const std::string& path,
                       const std::function<void(Index)>& progress = {});

}  // namespace metagmm::task
