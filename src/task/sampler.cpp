#include "metagmm/task/sampler.hpp"

#include <algorithm>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "metagmm/core/error.hpp"
#include "metagmm/core/random.hpp"
#include "metagmm/core/text.hpp"

namespace metagmm::task {
namespace {

// Keeps tasks' points in memory up to a byte budget; beyond it, tasks are reloaded each time.
class TaskCache {
 public:
  explicit TaskCache(std::size_t budget) : budget_(budget) {}
  template <typename Load>
  const RowMatrix& get(Index task, Load&& load) {
    if (auto found = cached_.find(task); found != cached_.end()) return found->second;
    RowMatrix points = load();
    const std::size_t bytes = static_cast<std::size_t>(points.size()) * sizeof(double);
    if (used_ + bytes <= budget_) {
      used_ += bytes;
      return cached_.emplace(task, std::move(points)).first->second;
    }
    uncached_ = std::move(points);
    return uncached_;
  }

 private:
  std::size_t budget_, used_ = 0;
  std::unordered_map<Index, RowMatrix> cached_;
  RowMatrix uncached_;
};

std::vector<Index> tasks_by_split(const std::vector<std::int8_t>& splits, Split split) {
  std::vector<Index> tasks;
  for (std::size_t t = 0; t < splits.size(); ++t)
    if (splits[t] == static_cast<std::int8_t>(split)) tasks.push_back(static_cast<Index>(t));
  return tasks;
}

class FileSource final : public TaskSource {
 public:
  FileSource(const std::string& path, std::size_t cache_bytes) : reader_(path), cache_(cache_bytes) {
    for (const Split split : {Split::train, Split::validation, Split::test}) {
      auto& list = splits_[static_cast<int>(split)];
      list = reader_.tasks_in(split);
      Index fewest = std::numeric_limits<Index>::max();
      for (const Index t : list) fewest = std::min(fewest, reader_.task_size(t));
      min_size_[static_cast<int>(split)] = list.empty() ? 0 : fewest;
    }
  }
  Index dim() const override { return reader_.dim(); }
  const std::vector<Index>& tasks_in(Split split) const override { return splits_[static_cast<int>(split)]; }
  Index min_task_size(Split split) const override { return min_size_[static_cast<int>(split)]; }
  const RowMatrix& points(Index task) override {
    return cache_.get(task, [&] { return reader_.points(task); });
  }
  bool has_labels() const override { return reader_.info().labels; }
  const IntVector& labels(Index task) override {
    if (!has_labels()) throw InputError(describe() + " has no labels (/labels)");
    // Labels are small beside the points: all kept once read.
    auto found = labels_.find(task);
    if (found == labels_.end()) found = labels_.emplace(task, reader_.labels(task)).first;
    return found->second;
  }
  bool has_truth() const override { return reader_.info().truth && reader_.info().truth_space == "data"; }
  gmm::Gmm truth(Index task) override {
    if (!has_truth()) throw InputError(describe() + " stores no true parameters in the data space");
    return reader_.truth(task);
  }
  std::string describe() const override {
    return "task set " + reader_.info().path + " (" + std::to_string(reader_.task_count()) + " tasks, d = " +
           std::to_string(reader_.dim()) + ")";
  }

 private:
  TaskSetReader reader_;
  TaskCache cache_;
  std::unordered_map<Index, IntVector> labels_;
  std::vector<Index> splits_[3];
  Index min_size_[3] = {0, 0, 0};
};

class GeneratedSource final : public TaskSource {
 public:
  GeneratedSource(const GeneratorOptions& options, std::size_t cache_bytes) : options_(options), cache_(cache_bytes) {
    options_.validate();
    if (options_.family != Family::uniform) anchors_ = family_anchors(options_);
    if (options_.family == Family::warped) warp_ = family_warp(options_);
    const auto splits = assign_splits(options_.tasks, options_.split, options_.seed);
    for (const Split split : {Split::train, Split::validation, Split::test})
      splits_[static_cast<int>(split)] = tasks_by_split(splits, split);
  }
  Index dim() const override { return options_.dim; }
  const std::vector<Index>& tasks_in(Split split) const override { return splits_[static_cast<int>(split)]; }
  Index min_task_size(Split) const override { return options_.points_min; }
  const RowMatrix& points(Index task) override {
    return cache_.get(task, [&] { return generate(task); });
  }
  bool has_labels() const override { return true; }
  const IntVector& labels(Index task) override { return kept(task).labels; }
  bool has_truth() const override { return options_.family != Family::warped; }
  gmm::Gmm truth(Index task) override {
    if (!has_truth()) throw InputError(describe() + ": a warped family's truth is in its latent space");
    return kept(task).truth;
  }
  std::string describe() const override {
    return "generated " + to_string(options_.family) + " family (" + std::to_string(options_.tasks) +
           " tasks, d = " + std::to_string(options_.dim) + ", seed " + std::to_string(options_.seed) + ")";
  }

 private:
  // A task's labels and true mixture are small beside its points: kept for every task generated.
  struct Kept {
    IntVector labels;
    gmm::Gmm truth;
  };
  // Generates the task (once for its labels and truth, again only if its points left the cache)
  // and returns its points.
  RowMatrix generate(Index task) {
    GeneratedTask generated = generate_task(options_, anchors_, warp_ ? &*warp_ : nullptr, task);
    kept_.try_emplace(task, Kept{std::move(generated.labels), std::move(generated.truth.model)});
    return std::move(generated.points);
  }
  const Kept& kept(Index task) {
    auto found = kept_.find(task);
    if (found == kept_.end()) {
      generate(task);
      found = kept_.find(task);
    }
    return found->second;
  }
  GeneratorOptions options_;
  gmm::Gmm anchors_{gmm::GmmShape{}};
  std::optional<Warp> warp_;
  TaskCache cache_;
  std::unordered_map<Index, Kept> kept_;
  std::vector<Index> splits_[3];
};

}  // namespace

std::unique_ptr<TaskSource> open_task_file(const std::string& path, std::size_t cache_bytes) {
  return std::make_unique<FileSource>(path, cache_bytes);
}

std::unique_ptr<TaskSource> make_generated_source(const GeneratorOptions& options, std::size_t cache_bytes) {
  return std::make_unique<GeneratedSource>(options, cache_bytes);
}

PooledTasks pool_split(TaskSource& source, Split split) {
  const auto& tasks = source.tasks_in(split);
  if (tasks.empty()) throw InputError(source.describe() + ": no tasks in the " + split_name(split) + " split");
  // Each task read once (an uncached source would otherwise read it again to copy it).
  std::vector<RowMatrix> parts;
  parts.reserve(tasks.size());
  Index rows = 0;
  for (const Index t : tasks) {
    parts.push_back(source.points(t));
    rows += parts.back().rows();
  }
  PooledTasks pooled;
  pooled.tasks = static_cast<Index>(tasks.size());
  pooled.points.resize(rows, source.dim());
  if (source.has_labels()) pooled.labels.resize(rows);
  Index at = 0;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    pooled.points.middleRows(at, parts[i].rows()) = parts[i];
    if (source.has_labels()) pooled.labels.segment(at, parts[i].rows()) = source.labels(tasks[i]);
    at += parts[i].rows();
  }
  return pooled;
}

Index pooled_stream(const TaskSource& source, Split split) {
  std::size_t tasks = 0;
  for (const Split s : {Split::train, Split::validation, Split::test}) tasks += source.tasks_in(s).size();
  return static_cast<Index>(tasks) + static_cast<Index>(split);
}

void EpisodeOptions::validate() const {
  if (support < 1) throw InputError("--support: expected at least 1 point");
  if (query < 0) throw InputError("--query: expected 0 (all points not in the support) or more");
  if (whole && query != 0) throw InputError("--query: --support all scores every point of a task; leave --query at 0");
}

std::string EpisodeOptions::support_text() const { return whole ? "all" : std::to_string(support); }

void EpisodeOptions::set_support(const std::string& text, const std::string& option) {
  whole = text == "all";
  if (whole) return;
  const auto count = parse_integer(text);
  if (!count || *count < 1) throw InputError(option + ": expected a number of points >= 1, or all, got '" + text + "'");
  support = static_cast<Index>(*count);
}

namespace {

// "--support 20 and --query 0 need at least 21" / "--support all needs at least 1".
std::string episode_needs(const EpisodeOptions& o) {
  if (o.whole) return "--support all needs at least " + std::to_string(o.points_needed());
  return "--support " + std::to_string(o.support) + " and --query " + std::to_string(o.query) + " need at least " +
         std::to_string(o.points_needed());
}

}  // namespace

Sampler::Sampler(TaskSource& source, const EpisodeOptions& options, std::uint64_t seed)
    : source_(source), options_(options), seed_(seed) {
  options_.validate();
  const Index needed = options_.points_needed();
  if (source_.tasks_in(Split::train).empty())
    throw InputError(source_.describe() + ": no tasks in the train split");
  for (const Split split : {Split::train, Split::validation}) {
    if (source_.tasks_in(split).empty()) continue;
    const Index fewest = source_.min_task_size(split);
    if (fewest < needed) {
      throw InputError(source_.describe() + ": a " + split_name(split) + " task has only " + std::to_string(fewest) +
                       " points, but " + episode_needs(options_));
    }
  }
}

Index Sampler::validation_count() const { return static_cast<Index>(source_.tasks_in(Split::validation).size()); }

void Sampler::training(std::int64_t step, Index j, Episode& out) {
  RandomStream random(seed_, StreamPurpose::episode, static_cast<std::uint64_t>(step), static_cast<std::uint64_t>(j));
  const auto& train = source_.tasks_in(Split::train);
  draw(train[random.below(train.size())], random, out);
}

void Sampler::validation(Index v, Episode& out) {
  RandomStream random(seed_, StreamPurpose::validation, static_cast<std::uint64_t>(v));
  draw(source_.tasks_in(Split::validation).at(static_cast<std::size_t>(v)), random, out);
}

void Sampler::evaluation(Split split, Index i, Episode& out) {
  const Index task = source_.tasks_in(split).at(static_cast<std::size_t>(i));
  const Index size = source_.points(task).rows();
  if (size < options_.points_needed()) {
    throw InputError(source_.describe() + ": " + split_name(split) + " task " + std::to_string(task) + " has only " +
                     std::to_string(size) + " points, but " + episode_needs(options_));
  }
  RandomStream random(seed_, StreamPurpose::evaluation, static_cast<std::uint64_t>(split), static_cast<std::uint64_t>(i));
  draw(task, random, out, source_.has_labels());
}

// The support is a uniformly random subset of the task's points (partial Fisher-Yates), and
// the query the next `query` points of the same permutation (or all the rest); with --support
// all both are every point, as stored.
void Sampler::draw(Index task, RandomStream& random, Episode& out, bool with_labels) {
  const RowMatrix& points = source_.points(task);
  if (options_.whole) {
    out.task = task;
    out.support = points;
    out.query = points;
    if (with_labels) {
      out.query_labels = source_.labels(task);
    } else {
      out.query_labels.resize(0);
    }
    return;
  }
  const Index n = points.rows();
  const Index support = options_.support;
  const Index query = options_.query == 0 ? n - support : options_.query;
  METAGMM_CHECK(support + query <= n, "task smaller than checked");
  order_.resize(static_cast<std::size_t>(n));
  std::iota(order_.begin(), order_.end(), Index{0});
  for (Index i = 0; i < support + query; ++i) {
    const Index pick = i + static_cast<Index>(random.below(static_cast<std::uint64_t>(n - i)));
    std::swap(order_[i], order_[pick]);
  }
  out.task = task;
  const Index d = points.cols();
  // The rows are gathered in random order, which defeats the hardware prefetcher: from a task
  // not in cache that costs a memory round trip per row. One copy in order streams it in first.
  staged_ = points;
  out.support.resize(support, d);
  out.query.resize(query, d);
  // Rows are contiguous (row-major) and short: a plain loop, which the compiler inlines.
  auto copy_row = [d](const double* from, double* to) {
    for (Index j = 0; j < d; ++j) to[j] = from[j];
  };
  for (Index i = 0; i < support; ++i) copy_row(staged_.row(order_[i]).data(), out.support.row(i).data());
  for (Index i = 0; i < query; ++i) copy_row(staged_.row(order_[support + i]).data(), out.query.row(i).data());
  if (with_labels) {
    const IntVector& labels = source_.labels(task);
    out.query_labels.resize(query);
    for (Index i = 0; i < query; ++i) out.query_labels[i] = labels[order_[support + i]];
  } else {
    out.query_labels.resize(0);
  }
}

}  // namespace metagmm::task
