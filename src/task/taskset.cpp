#include "metagmm/task/taskset.hpp"

#include "metagmm/gmm/covariance.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "metagmm/core/atomic_file.hpp"
#include "metagmm/core/build_info.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/core/random.hpp"
#include "metagmm/core/text.hpp"

namespace metagmm::task {
namespace {

// Points are buffered and appended in blocks of about 4 MiB: one HDF5 extent change per
// block rather than per task keeps generating millions of small tasks fast.
constexpr size_t kPendingDoubles = 1 << 19;

h5::Dims truth_covariance_dims(gmm::CovarianceType type, Index components, Index dim) {
  return gmm::stored_covariance_dims(type, components, dim);
}

RowMatrix to_row_major(const Matrix& m) { return m; }

}  // namespace

const char* split_name(Split split) {
  switch (split) {
    case Split::train: return "train";
    case Split::validation: return "validation";
    case Split::test: return "test";
  }
  return "?";
}

Split parse_split(const std::string& text, const std::string& what) {
  if (text == "train") return Split::train;
  if (text == "validation") return Split::validation;
  if (text == "test") return Split::test;
  throw InputError(what + ": expected train, validation or test, got '" + text + "'");
}

SplitFractions SplitFractions::parse(const std::string& text, const std::string& what) {
  std::vector<double> parts;
  std::istringstream in(text);
  std::string part;
  while (std::getline(in, part, ':')) {
    try {
      size_t used = 0;
      parts.push_back(std::stod(part, &used));
      if (used != part.size()) throw std::invalid_argument(part);
    } catch (const std::exception&) {
      throw InputError(what + ": expected TRAIN:VALIDATION:TEST fractions like 0.8:0.1:0.1, got '" + text + "'");
    }
  }
  if (parts.size() != 3 || std::any_of(parts.begin(), parts.end(), [](double f) { return !(f >= 0.0) || !std::isfinite(f); }) ||
      std::abs(parts[0] + parts[1] + parts[2] - 1.0) > 1e-9) {
    throw InputError(what + ": expected three non-negative fractions summing to 1, got '" + text + "'");
  }
  return {parts[0], parts[1], parts[2]};
}

std::string SplitFractions::to_string() const {
  return shortest_text(train) + ":" + shortest_text(validation) + ":" + shortest_text(test);
}

std::vector<std::int8_t> assign_splits(Index tasks, const SplitFractions& fractions, std::uint64_t seed) {
  const auto train = static_cast<Index>(std::llround(fractions.train * static_cast<double>(tasks)));
  const auto validation = std::min<Index>(tasks - train, std::llround(fractions.validation * static_cast<double>(tasks)));
  std::vector<Index> order(tasks);
  std::iota(order.begin(), order.end(), Index{0});
  RandomStream random(seed, StreamPurpose::split);
  for (Index i = tasks - 1; i > 0; --i) std::swap(order[i], order[static_cast<Index>(random.below(i + 1))]);
  std::vector<std::int8_t> splits(tasks);
  for (Index i = 0; i < tasks; ++i) {
    splits[order[i]] = static_cast<std::int8_t>(i < train ? Split::train : i < train + validation ? Split::validation : Split::test);
  }
  return splits;
}

RowMatrix Warp::apply(const RowMatrix& latent) const {
  RowMatrix u = latent * rotation_in.transpose();
  for (Index j = 0; j < u.cols(); ++j) {
    u.col(j) = u.col(j).array() + amplitude[j] * (frequency[j] * u.col(j).array() + phase[j]).sin();
  }
  return u * rotation_out.transpose();
}

// ---- writer ----------------------------------------------------------------------------

struct TaskSetWriter::State {
  AtomicFile output;
  h5::File file;
  std::optional<h5::Dataset> points, labels, truth_weights, truth_means, truth_covariances, truth_anchors;
  std::vector<double> pending_points;
  std::vector<std::int32_t> pending_labels;
  State(const std::string& path) : output(path), file(h5::File::create(output)) {}
};

TaskSetWriter::TaskSetWriter(const std::string& path, TaskSetHeader header)
    : state_(std::make_unique<State>(path)), header_(std::move(header)) {
  METAGMM_CHECK(header_.dim >= 1, "a task set needs dim >= 1");
  h5::File& file = state_->file;
  const auto d = static_cast<std::uint64_t>(header_.dim);
  file.set_attribute("/", "format", std::string(kTaskSetFormat));
  file.set_attribute("/", "version", kTaskSetVersion);
  file.set_attribute("/", "dim", static_cast<std::int64_t>(header_.dim));
  file.set_attribute("/", "generator", header_.generator);
  file.set_attribute("/", "settings", header_.settings);
  file.set_attribute("/", "created_by", "metagmm " + std::string(version()));
  write_provenance(file);
  h5::DatasetOptions extendible{.extendible = true};
  state_->points = file.create_dataset<double>("/points", {0, d}, extendible);
  if (header_.labels) state_->labels = file.create_dataset<std::int32_t>("/labels", {0}, extendible);
  if (header_.truth_covariance) {
    const auto type = *header_.truth_covariance;
    file.create_group("/truth");
    file.set_attribute("/truth", "covariance_type", gmm::to_string(type));
    file.set_attribute("/truth", "space", std::string(header_.warp ? "latent" : "data"));
    state_->truth_weights = file.create_dataset<double>("/truth/weights", {0}, extendible);
    state_->truth_means = file.create_dataset<double>("/truth/means", {0, d}, extendible);
    state_->truth_covariances = file.create_dataset<double>("/truth/covariances", truth_covariance_dims(type, 0, header_.dim), extendible);
    state_->truth_anchors = file.create_dataset<std::int32_t>("/truth/anchors", {0}, extendible);
    if (header_.warp) {
      const Warp& warp = *header_.warp;
      file.create_group("/truth/warp");
      file.set_attribute("/truth/warp", "formula", std::string("x = rotation_out g(rotation_in z), g(u)_j = u_j + amplitude_j sin(frequency_j u_j + phase_j)"));
      file.write<double>("/truth/warp/rotation_in", {d, d}, to_row_major(warp.rotation_in).data());
      file.write<double>("/truth/warp/rotation_out", {d, d}, to_row_major(warp.rotation_out).data());
      file.write<double>("/truth/warp/amplitude", {d}, warp.amplitude.data());
      file.write<double>("/truth/warp/frequency", {d}, warp.frequency.data());
      file.write<double>("/truth/warp/phase", {d}, warp.phase.data());
    }
  }
}

TaskSetWriter::~TaskSetWriter() = default;

void TaskSetWriter::flush_pending() {
  State& s = *state_;
  const size_t rows = s.pending_points.size() / static_cast<size_t>(header_.dim);
  s.points->append_rows<double>(rows, s.pending_points.data());
  if (s.labels) s.labels->append_rows<std::int32_t>(s.pending_labels.size(), s.pending_labels.data());
  s.pending_points.clear();
  s.pending_labels.clear();
}

void TaskSetWriter::add_task(const RowMatrix& points, const IntVector* labels, const TaskTruth* truth) {
  METAGMM_CHECK(points.cols() == header_.dim && points.rows() > 0, "task points have the wrong shape");
  METAGMM_CHECK(header_.labels == (labels != nullptr), "labels given for a set without, or missing");
  METAGMM_CHECK(header_.truth_covariance.has_value() == (truth != nullptr), "truth given for a set without, or missing");
  State& s = *state_;
  s.pending_points.insert(s.pending_points.end(), points.data(), points.data() + points.size());
  if (labels) {
    METAGMM_CHECK(labels->size() == points.rows(), "one label per point");
    s.pending_labels.insert(s.pending_labels.end(), labels->data(), labels->data() + labels->size());
  }
  offsets_.push_back(offsets_.back() + points.rows());
  if (truth) {
    const gmm::GmmMoments m = gmm::to_moments(truth->model);
    const Index C = truth->model.shape.components;
    METAGMM_CHECK(truth->model.shape.covariance == *header_.truth_covariance, "truth covariance type");
    s.truth_weights->append_rows<double>(C, m.weights.data());
    s.truth_means->append_rows<double>(C, m.means.data());
    if (m.covariance == gmm::CovarianceType::full) {
      for (const Matrix& cov : m.covariances) s.truth_covariances->append_rows<double>(1, to_row_major(cov).data());
    } else {
      s.truth_covariances->append_rows<double>(C, m.variances.data());
    }
    s.truth_anchors->append_rows<std::int32_t>(C, truth->anchors.data());
    truth_offsets_.push_back(truth_offsets_.back() + C);
  }
  if (s.pending_points.size() >= kPendingDoubles) flush_pending();
}

void TaskSetWriter::add_array(const std::string& path, const h5::Dims& dims, const double* values,
                              const std::string& description) {
  h5::File& file = state_->file;
  const auto slash = path.rfind('/');
  METAGMM_CHECK(slash != std::string::npos && slash + 1 < path.size(), "add_array: an absolute dataset path");
  const std::string parent = path.substr(0, slash);
  if (!parent.empty() && !file.exists(parent)) file.create_group(parent);
  file.write<double>(path, dims, values);
  file.set_attribute(path, "description", description);
}

void TaskSetWriter::set_attribute(const std::string& object, const std::string& name, double value) {
  state_->file.set_attribute(object, name, value);
}

void TaskSetWriter::set_attribute(const std::string& object, const std::string& name, const std::string& value) {
  state_->file.set_attribute(object, name, value);
}

void TaskSetWriter::finish(const std::vector<std::int8_t>& splits) {
  METAGMM_CHECK(static_cast<Index>(splits.size()) == task_count(), "one split per task");
  flush_pending();
  State& s = *state_;
  s.file.write<std::int64_t>("/task_offsets", {offsets_.size()}, offsets_.data());
  s.file.write<std::int8_t>("/task_split", {splits.size()}, splits.data());
  if (header_.truth_covariance) {
    s.file.write<std::int64_t>("/truth/component_offsets", {truth_offsets_.size()}, truth_offsets_.data());
  }
  s.points.reset();
  s.labels.reset();
  s.truth_weights.reset();
  s.truth_means.reset();
  s.truth_covariances.reset();
  s.truth_anchors.reset();
  s.file.close();
  s.output.commit();
}

// ---- reader ----------------------------------------------------------------------------

struct TaskSetReader::State {
  h5::File file;
  h5::Dataset points;
  std::optional<h5::Dataset> labels;
  std::vector<std::int64_t> truth_offsets;
  std::optional<h5::Dataset> truth_weights, truth_means, truth_covariances;
  gmm::CovarianceType truth_covariance = gmm::CovarianceType::diag;
};

TaskSetReader::~TaskSetReader() = default;
TaskSetReader::TaskSetReader(TaskSetReader&&) noexcept = default;

TaskSetReader::TaskSetReader(const std::string& path) {
  h5::File file = h5::File::open(path);
  info_.path = path;
  const auto format = file.string_attribute("/", "format");
  if (!format) throw InputError(path + ": root attribute format is missing (is this a metagmm task set?)");
  if (*format != kTaskSetFormat) {
    throw InputError(path + ": format is '" + *format + "', expected '" + kTaskSetFormat + "'");
  }
  info_.format = *format;
  info_.version = file.require_int_attribute("/", "version");
  if (info_.version != kTaskSetVersion) {
    throw InputError(path + ": task-set version " + std::to_string(info_.version) + " is not supported (this build reads version " +
                     std::to_string(kTaskSetVersion) + ")");
  }
  info_.dim = file.require_int_attribute("/", "dim");
  if (info_.dim < 1) throw InputError(path + ": attribute dim must be >= 1, found " + std::to_string(info_.dim));
  info_.generator = file.string_attribute("/", "generator").value_or("");
  info_.settings = file.string_attribute("/", "settings").value_or("");
  info_.created_by = file.string_attribute("/", "created_by").value_or("");
  info_.provenance = read_provenance(file);

  h5::Dataset points = file.dataset("/points", h5::Dtype::float64, 2);
  if (static_cast<Index>(points.dims()[1]) != info_.dim) {
    throw InputError(path + ": dataset /points has " + std::to_string(points.dims()[1]) + " columns but attribute dim is " +
                     std::to_string(info_.dim));
  }
  info_.points = static_cast<Index>(points.dims()[0]);

  offsets_ = file.dataset("/task_offsets", h5::Dtype::int64, 1).read_all<std::int64_t>();
  if (offsets_.size() < 2) throw InputError(path + ": dataset /task_offsets must hold at least 2 values (one task)");
  if (offsets_.front() != 0) throw InputError(path + ": dataset /task_offsets must start at 0, found " + std::to_string(offsets_.front()));
  for (size_t t = 1; t < offsets_.size(); ++t) {
    if (offsets_[t] <= offsets_[t - 1]) {
      throw InputError(path + ": dataset /task_offsets is not increasing at index " + std::to_string(t) + " (" +
                       std::to_string(offsets_[t - 1]) + " then " + std::to_string(offsets_[t]) + "); every task needs a point");
    }
  }
  if (offsets_.back() != info_.points) {
    throw InputError(path + ": dataset /task_offsets ends at " + std::to_string(offsets_.back()) + " but /points has " +
                     std::to_string(info_.points) + " rows" + (offsets_.back() > info_.points ? " (past the end)" : ""));
  }
  info_.tasks = static_cast<Index>(offsets_.size()) - 1;

  splits_ = file.dataset("/task_split", h5::Dtype::int8, 1).read_all<std::int8_t>();
  if (static_cast<Index>(splits_.size()) != info_.tasks) {
    throw InputError(path + ": dataset /task_split has " + std::to_string(splits_.size()) + " values for " +
                     std::to_string(info_.tasks) + " tasks");
  }
  for (size_t t = 0; t < splits_.size(); ++t) {
    if (splits_[t] < 0 || splits_[t] > 2) {
      throw InputError(path + ": dataset /task_split: task " + std::to_string(t) + " has split " + std::to_string(splits_[t]) +
                       ", expected 0 (train), 1 (validation) or 2 (test)");
    }
  }

  state_ = std::make_unique<State>(State{std::move(file), std::move(points), {}, {}, {}, {}, {}, {}});
  h5::File& f = state_->file;
  if (f.exists("/labels")) {
    state_->labels = f.dataset("/labels", h5::Dtype::int32, 1);
    if (static_cast<Index>(state_->labels->dims()[0]) != info_.points) {
      throw InputError(path + ": dataset /labels has " + std::to_string(state_->labels->dims()[0]) + " values for " +
                       std::to_string(info_.points) + " points");
    }
    info_.labels = true;
  }
  if (f.exists("/truth")) {
    state_->truth_covariance = gmm::parse_covariance_type(f.require_string_attribute("/truth", "covariance_type"),
                                                          path + ": attribute covariance_type of /truth");
    info_.truth_space = f.string_attribute("/truth", "space").value_or("data");
    state_->truth_offsets = f.dataset("/truth/component_offsets", h5::Dtype::int64, 1).read_all<std::int64_t>();
    if (static_cast<Index>(state_->truth_offsets.size()) != info_.tasks + 1) {
      throw InputError(path + ": dataset /truth/component_offsets needs one value per task plus one");
    }
    const int covariance_rank = static_cast<int>(truth_covariance_dims(state_->truth_covariance, 0, info_.dim).size());
    state_->truth_weights = f.dataset("/truth/weights", h5::Dtype::float64, 1);
    state_->truth_means = f.dataset("/truth/means", h5::Dtype::float64, 2);
    state_->truth_covariances = f.dataset("/truth/covariances", h5::Dtype::float64, covariance_rank);
    const auto components = static_cast<std::uint64_t>(state_->truth_offsets.back());
    if (state_->truth_weights->dims()[0] != components || state_->truth_means->dims()[0] != components ||
        state_->truth_means->dims()[1] != static_cast<std::uint64_t>(info_.dim) ||
        state_->truth_covariances->dims() != truth_covariance_dims(state_->truth_covariance, static_cast<Index>(components), info_.dim)) {
      throw InputError(path + ": the datasets under /truth disagree on the number of components or the dimension");
    }
    info_.truth = true;
  }
}

void TaskSetReader::check_task(Index task) const {
  if (task < 0 || task >= info_.tasks) {
    throw InputError(info_.path + ": task " + std::to_string(task) + " does not exist (the set has " + std::to_string(info_.tasks) +
                     " tasks, numbered from 0)");
  }
}

Index TaskSetReader::task_size(Index task) const {
  check_task(task);
  return static_cast<Index>(offsets_[task + 1] - offsets_[task]);
}

Split TaskSetReader::split(Index task) const {
  check_task(task);
  return static_cast<Split>(splits_[task]);
}

std::vector<Index> TaskSetReader::tasks_in(Split split) const {
  std::vector<Index> tasks;
  for (Index t = 0; t < info_.tasks; ++t)
    if (splits_[t] == static_cast<std::int8_t>(split)) tasks.push_back(t);
  return tasks;
}

RowMatrix TaskSetReader::points(Index task) const {
  const Index rows = task_size(task);
  RowMatrix points(rows, info_.dim);
  state_->points.read_rows<double>(offsets_[task], rows, points.data());
  for (Index n = 0; n < rows; ++n) {
    if (!points.row(n).allFinite()) {
      throw InputError(info_.path + ": task " + std::to_string(task) + ": point " + std::to_string(n) + " (row " +
                       std::to_string(offsets_[task] + n) + " of /points) has a NaN or Inf coordinate");
    }
  }
  return points;
}

IntVector TaskSetReader::labels(Index task) const {
  if (!state_->labels) throw InputError(info_.path + ": the task set has no /labels");
  const Index rows = task_size(task);
  IntVector labels(rows);
  state_->labels->read_rows<std::int32_t>(offsets_[task], rows, labels.data());
  return labels;
}

gmm::Gmm TaskSetReader::truth(Index task) const {
  check_task(task);
  if (!info_.truth) throw InputError(info_.path + ": the task set has no /truth");
  const auto first = static_cast<std::uint64_t>(state_->truth_offsets[task]);
  const auto count = static_cast<std::uint64_t>(state_->truth_offsets[task + 1]) - first;
  const Index C = static_cast<Index>(count), d = info_.dim;
  gmm::GmmMoments m;
  m.covariance = state_->truth_covariance;
  m.weights.resize(C);
  m.means.resize(C, d);
  state_->truth_weights->read_rows<double>(first, count, m.weights.data());
  state_->truth_means->read_rows<double>(first, count, m.means.data());
  if (m.covariance == gmm::CovarianceType::full) {
    RowMatrix stacked(C * d, d);
    state_->truth_covariances->read_rows<double>(first, count, stacked.data());
    for (Index k = 0; k < C; ++k) m.covariances.push_back(stacked.middleRows(k * d, d));
  } else {
    m.variances.resize(C, m.covariance == gmm::CovarianceType::diag ? d : 1);
    state_->truth_covariances->read_rows<double>(first, count, m.variances.data());
  }
  try {
    return gmm::from_moments(m);
  } catch (const NumericError& error) {  // stored values no mixture has: the file is bad
    throw InputError(info_.path + ": /truth of task " + std::to_string(task) + ": " + error.what());
  }
}

}  // namespace metagmm::task
