#include "metagmm/task/image_import.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <numeric>

#include "metagmm/core/error.hpp"
#include "metagmm/core/random.hpp"
#include "metagmm/core/text.hpp"
#include "metagmm/task/file_bytes.hpp"
#include "metagmm/task/transform.hpp"

namespace metagmm::task {
namespace {

constexpr unsigned char kUnsignedByte = 0x08;

std::uint32_t big_endian(const std::string& bytes, std::size_t at) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

std::string class_list(const std::vector<std::int32_t>& classes) {
  std::string text;
  for (const auto c : classes) text += (text.empty() ? "" : ",") + std::to_string(c);
  return text;
}

}  // namespace

IdxArray read_idx(const std::string& path, int rank) {
  std::string bytes = read_file_bytes(path);
  const std::string expected = "expected an IDX file of unsigned bytes with " + std::to_string(rank) +
                               " dimension" + (rank == 1 ? "" : "s") + " (magic number 0x0000080" + std::to_string(rank) + ")";
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0) throw InputError(path + ": " + expected + ": the magic number is wrong");
  if (static_cast<unsigned char>(bytes[2]) != kUnsignedByte) {
    char type[8];
    std::snprintf(type, sizeof type, "0x%02x", static_cast<unsigned>(static_cast<unsigned char>(bytes[2])));
    throw InputError(path + ": " + expected + ": element type " + type + " is not unsigned bytes");
  }
  if (bytes[3] != rank) throw InputError(path + ": " + expected + ", found " + std::to_string(bytes[3]) + " dimensions");
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(rank);
  if (bytes.size() < header) throw InputError(path + ": " + expected + ": the header is truncated");
  IdxArray array;
  std::uint64_t size = 1;
  for (int k = 0; k < rank; ++k) {
    array.dims.push_back(big_endian(bytes, 4 + 4 * static_cast<std::size_t>(k)));
    size *= array.dims.back();
  }
  const std::uint64_t body = bytes.size() - header;
  if (body != size) {
    throw InputError(path + ": the header declares " + std::to_string(size) + " bytes of data, the file holds " +
                     std::to_string(body) + (body < size ? " (truncated)" : " (trailing bytes)"));
  }
  array.body = bytes.substr(header);
  return array;
}

ImageImportSummary import_images(const std::string& images_path, const std::string& labels_path, const std::string& out_path,
                                 const ImageImportOptions& o) {
  if (o.classes_per_task < 1) throw InputError("--classes-per-task: expected at least 1");
  if (o.task_size < o.classes_per_task) throw InputError("--task-size: expected at least --classes-per-task images");
  if (!(o.concentration > 0.0) || !std::isfinite(o.concentration)) throw InputError("--concentration: expected a positive number");
  for (const Index t : o.tasks)
    if (t < 0) throw InputError("--tasks: expected non-negative counts");
  if (o.tasks[0] < 1) throw InputError("--tasks: expected at least one training task");

  const IdxArray images = read_idx(images_path, 3);
  const IdxArray labels = read_idx(labels_path, 1);
  const Index count = images.dims[0], width = static_cast<Index>(images.dims[1]) * images.dims[2];
  if (labels.dims[0] != images.dims[0]) {
    throw InputError(labels_path + ": holds " + std::to_string(labels.dims[0]) + " labels, expected one per image of " +
                     images_path + " (" + std::to_string(count) + ")");
  }
  // Each class's images, in file order.
  std::map<std::int32_t, std::vector<Index>> by_class;
  for (Index i = 0; i < count; ++i) by_class[static_cast<unsigned char>(labels.body[static_cast<std::size_t>(i)])].push_back(i);
  const auto image = [&](Index i) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(images.body.data()) + i * width;
    Vector row(width);
    for (Index p = 0; p < width; ++p) row[p] = bytes[p];
    return row;
  };
  const std::array<const std::vector<std::int32_t>*, 3> split_classes{&o.classes.train, &o.classes.validation, &o.classes.test};
  const std::array<const char*, 3> split_names{"train", "validation", "test"};
  Index smallest_pool = count;
  for (std::size_t s = 0; s < 3; ++s) {
    if (o.tasks[s] == 0) continue;
    if (static_cast<Index>(split_classes[s]->size()) < o.classes_per_task) {
      throw InputError("--class-split: the " + std::string(split_names[s]) + " split has " + std::to_string(split_classes[s]->size()) +
                       " classes, fewer than --classes-per-task " + std::to_string(o.classes_per_task));
    }
    for (const auto c : *split_classes[s]) {
      const auto found = by_class.find(c);
      if (found == by_class.end()) throw InputError(labels_path + ": no image has class " + std::to_string(c) + " (--class-split)");
      smallest_pool = std::min<Index>(smallest_pool, static_cast<Index>(found->second.size()));
    }
  }
  if (o.task_size > smallest_pool) {
    throw InputError("--task-size: " + std::to_string(o.task_size) + " images is more than the smallest class holds (" +
                     std::to_string(smallest_pool) + "), so a task cannot draw them without repetition");
  }

  // The principal components of the training classes' images.
  Index train_images = 0;
  for (const auto c : o.classes.train) train_images += static_cast<Index>(by_class[c].size());
  RowMatrix train(train_images, width);
  Index row = 0;
  for (const auto c : o.classes.train)
    for (const Index i : by_class[c]) train.row(row++) = image(i).transpose();
  const Projection projection = Projection::fit_pca(train, 1.0 / 255.0, o.dim, "--dim");
  ImageImportSummary summary;
  {
    const RowMatrix centred = (train / 255.0).rowwise() - projection.mean.transpose();
    const double total = centred.squaredNorm();
    summary.explained = total > 0.0 ? (centred * projection.components.transpose()).squaredNorm() / total : 1.0;
  }
  summary.images = count;
  train.resize(0, 0);

  const std::string settings =
      "source = " + std::filesystem::weakly_canonical(images_path).string() + "\nlabels = " + std::filesystem::weakly_canonical(labels_path).string() +
      "\nformat = idx\nclass_split = " + class_list(o.classes.train) + ":" + class_list(o.classes.validation) + ":" +
      class_list(o.classes.test) + "\ntasks = " + std::to_string(o.tasks[0]) + ":" + std::to_string(o.tasks[1]) + ":" +
      std::to_string(o.tasks[2]) + "\nclasses_per_task = " + std::to_string(o.classes_per_task) + "\ntask_size = " +
      std::to_string(o.task_size) + "\nconcentration = " + shortest_text(o.concentration) + "\ndim = " + std::to_string(o.dim) +
      "\nexplained_variance = " + shortest_text(summary.explained) + "\nseed = " + std::to_string(o.seed);
  TaskSetWriter writer(out_path, TaskSetHeader{o.dim, "import", settings, true, std::nullopt, std::nullopt});
  std::vector<std::int8_t> splits;
  RowMatrix raw(o.task_size, width);
  IntVector task_labels(o.task_size);
  for (std::size_t s = 0; s < 3; ++s) {
    for (Index t = 0; t < o.tasks[s]; ++t) {
      RandomStream random(o.seed, StreamPurpose::import_task, s, static_cast<std::uint64_t>(t));
      std::vector<std::int32_t> classes = *split_classes[s];
      for (Index k = 0; k < o.classes_per_task; ++k)  // the first classes_per_task of a partial shuffle
        std::swap(classes[static_cast<std::size_t>(k)],
                  classes[static_cast<std::size_t>(k + static_cast<Index>(random.below(classes.size() - k)))]);
      Vector weights(o.classes_per_task);
      for (Index k = 0; k < o.classes_per_task; ++k) weights[k] = random.gamma(o.concentration);
      weights /= weights.sum();
      std::vector<Index> counts(static_cast<std::size_t>(o.classes_per_task), 0);
      for (Index n = 0; n < o.task_size; ++n) {  // each image's class from the proportions
        double u = random.uniform();
        Index k = 0;
        while (k + 1 < o.classes_per_task && u >= weights[k]) u -= weights[k++];
        ++counts[static_cast<std::size_t>(k)];
      }
      Index filled = 0;
      for (Index k = 0; k < o.classes_per_task; ++k) {
        std::vector<Index> pool = by_class[classes[static_cast<std::size_t>(k)]];
        for (Index j = 0; j < counts[static_cast<std::size_t>(k)]; ++j, ++filled) {
          std::swap(pool[static_cast<std::size_t>(j)],
                    pool[static_cast<std::size_t>(j + static_cast<Index>(random.below(pool.size() - j)))]);
          raw.row(filled) = image(pool[static_cast<std::size_t>(j)]).transpose();
          task_labels[filled] = classes[static_cast<std::size_t>(k)];
        }
      }
      for (Index i = o.task_size - 1; i > 0; --i) {  // shuffled, so no order tells the classes apart
        const auto j = static_cast<Index>(random.below(static_cast<std::uint64_t>(i + 1)));
        raw.row(i).swap(raw.row(j));
        std::swap(task_labels[i], task_labels[j]);
      }
      writer.add_task(projection.apply(raw), &task_labels, nullptr);
      splits.push_back(static_cast<std::int8_t>(s));
    }
  }
  projection.write(writer);
  writer.finish(splits);
  summary.tasks = static_cast<Index>(splits.size());
  return summary;
}

}  // namespace metagmm::task
