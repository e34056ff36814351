#pragma once
// metagmm import --idx-images/--idx-labels: a labelled image collection in the IDX format of
// MNIST and Fashion-MNIST (big-endian header, unsigned bytes; FILE.gz read through zlib) as a
// task set of mixtures of classes. Each split has its own classes (ClassSplit), so test tasks
// hold classes never seen in training. A task draws `classes_per_task` of its split's classes,
// their proportions from a symmetric Dirichlet, then `task_size` images (each class's without
// repetition), shuffled; its labels are the classes. Images are reduced to `dim` coordinates by
// principal components fitted on the training classes' images only (pixels scaled to [0, 1]),
// stored with the task set (task/transform.hpp) so new images can be projected the same way.
#include <array>
#include <cstdint>
#include <string>

#include "metagmm/task/csv.hpp"
#include "metagmm/task/taskset.hpp"

namespace metagmm::task {

// An IDX file of unsigned bytes: its dimensions and its body.
struct IdxArray {
  std::vector<std::uint32_t> dims;
  std::string body;  // dims' product bytes, C order
};
// InputError naming the file: a wrong magic number, another element type than unsigned bytes,
// another rank than `rank`, a truncated or overlong body.
IdxArray read_idx(const std::string& path, int rank);

struct ImageImportOptions {
  ClassSplit classes;                       // validation_fraction unused
  Index dim = 10;                           // principal components kept
  Index classes_per_task = 3;
  Index task_size = 600;
  std::array<Index, 3> tasks{2000, 200, 1000};  // per split: train, validation, test
  double concentration = 1.0;               // of the Dirichlet over a task's classes
  std::uint64_t seed = 0;
};

struct ImageImportSummary {
  Index images = 0, tasks = 0;
  double explained = 0.0;  // share of the training images' variance the components keep
};

ImageImportSummary import_images(const std::string& images_path, const std::string& labels_path, const std::string& out_path,
                                 const ImageImportOptions& options);

}  // namespace metagmm::task
