#include "metagmm/task/fewshot.hpp"

#include <algorithm>
#include <map>
#include <string>

#include "metagmm/core/error.hpp"

namespace metagmm::task {
namespace {

// Draws before giving up on a split where (almost) no task has enough classes.
constexpr int kMaxDraws = 1000;

// The first `count` entries of `items` become a uniformly random ordered selection (partial
// Fisher-Yates).
void choose(std::vector<Index>& items, Index count, RandomStream& random) {
  const auto n = static_cast<Index>(items.size());
  for (Index i = 0; i < count; ++i) {
    const Index pick = i + static_cast<Index>(random.below(static_cast<std::uint64_t>(n - i)));
    std::swap(items[static_cast<std::size_t>(i)], items[static_cast<std::size_t>(pick)]);
  }
}

void copy_row(const RowMatrix& from, Index row, RowMatrix& to, Index at) { to.row(at) = from.row(row); }

}  // namespace

void FewShotOptions::validate() const {
  if (ways < 2) throw InputError("--ways: expected at least 2 classes per episode");
  if (shots < 1) throw InputError("--shots: expected at least 1 support point per class");
  if (queries < 1) throw InputError("--queries: expected at least 1 query point per class");
  if (unlabelled < 0) throw InputError("--unlabelled: expected an integer >= 0");
  if (distractor_classes < 0) throw InputError("--distractor-classes: expected an integer >= 0");
  if (distractor_classes > 0 && unlabelled == 0)
    throw InputError("--distractor-classes: distractor classes add unlabelled points; set --unlabelled too");
  if (validation_episodes < 1) throw InputError("validation episodes: expected at least 1");
  if (validation_ways == 1 || validation_ways < 0)
    throw InputError("--validation-ways: expected at least 2 classes per episode (0: as --ways)");
}

FewShotSampler::FewShotSampler(TaskSource& source, const FewShotOptions& options, std::uint64_t seed)
    : source_(source), options_(options), seed_(seed) {
  options_.validate();
  if (!source_.has_labels())
    throw InputError(source_.describe() + ": few-shot episodes need labelled points (a /labels dataset)");
  if (source_.tasks_in(Split::train).empty()) throw InputError(source_.describe() + ": no tasks in the train split");
}

void FewShotSampler::check_training_episodes() {
  Episode probe;
  training(0, 0, probe);
  validation(0, probe);
}

void FewShotSampler::training(std::int64_t step, Index j, Episode& out) {
  RandomStream random(seed_, StreamPurpose::episode, static_cast<std::uint64_t>(step), static_cast<std::uint64_t>(j));
  draw(Split::train, options_.ways, random, out);
}

Split FewShotSampler::validation_split() const {
  return source_.tasks_in(Split::validation).empty() ? Split::train : Split::validation;
}

Index FewShotSampler::validation_ways() {
  if (options_.validation_ways > 0) return options_.validation_ways;
  if (validation_ways_ > 0) return validation_ways_;
  Index most = 0;  // held-out classes may be fewer than an episode's
  for (const Index task : source_.tasks_in(validation_split()))
    most = std::max(most, static_cast<Index>(classes_of(task).full.size()));
  validation_ways_ = most >= 2 ? std::min(options_.ways, most) : options_.ways;
  return validation_ways_;
}

void FewShotSampler::validation(Index v, Episode& out) {
  RandomStream random(seed_, StreamPurpose::validation, static_cast<std::uint64_t>(v));
  draw(validation_split(), validation_ways(), random, out);
}

void FewShotSampler::evaluation(Split split, Index e, Episode& out) {
  RandomStream random(seed_, StreamPurpose::evaluation, static_cast<std::uint64_t>(split), static_cast<std::uint64_t>(e));
  draw(split, options_.ways, random, out);
}

const FewShotSampler::TaskClasses& FewShotSampler::classes_of(Index task) {
  if (const auto found = classes_.find(task); found != classes_.end()) return found->second;
  const IntVector& labels = source_.labels(task);
  std::map<std::int32_t, std::vector<Index>> by_label;  // ordered: class numbering is reproducible
  for (Index i = 0; i < labels.size(); ++i)
    if (labels[i] >= 0) by_label[labels[i]].push_back(i);
  TaskClasses classes;
  for (auto& [label, rows] : by_label) {
    if (static_cast<Index>(rows.size()) >= options_.points_per_class())
      classes.full.push_back(static_cast<Index>(classes.rows.size()));
    classes.rows.push_back(std::move(rows));
  }
  return classes_.emplace(task, std::move(classes)).first->second;
}

void FewShotSampler::draw(Split split, Index ways, RandomStream& random, Episode& out) {
  const auto& tasks = source_.tasks_in(split);
  if (tasks.empty()) throw InputError(source_.describe() + ": no tasks in the " + split_name(split) + " split");
  for (int attempt = 0; attempt < kMaxDraws; ++attempt)
    if (draw_from(tasks[random.below(tasks.size())], ways, random, out)) return;
  const FewShotOptions& o = options_;
  throw InputError(source_.describe() + ": no " + split_name(split) + " task found in " + std::to_string(kMaxDraws) +
                   " draws with " + std::to_string(ways) + " classes of at least " +
                   std::to_string(o.points_per_class()) + " points (--shots + --queries + --unlabelled)" +
                   (o.distractor_classes > 0 ? " and " + std::to_string(o.distractor_classes) +
                                                   " more classes of at least --unlabelled points"
                                             : std::string()));
}

// The episode's classes are drawn in random order and numbered 0..ways-1 in that order, so the
// learner cannot rely on a class's number.
bool FewShotSampler::draw_from(Index task, Index ways, RandomStream& random, Episode& out) {
  const TaskClasses& classes = classes_of(task);
  FewShotOptions o = options_;
  o.ways = ways;
  if (static_cast<Index>(classes.full.size()) < o.ways) return false;
  chosen_ = classes.full;
  choose(chosen_, o.ways, random);
  chosen_.resize(static_cast<std::size_t>(o.ways));
  std::vector<Index> distractors;
  if (o.distractor_classes > 0) {
    for (Index c = 0; c < static_cast<Index>(classes.rows.size()); ++c) {
      const bool in_episode = std::find(chosen_.begin(), chosen_.end(), c) != chosen_.end();
      if (!in_episode && static_cast<Index>(classes.rows[static_cast<std::size_t>(c)].size()) >= o.unlabelled)
        distractors.push_back(c);
    }
    if (static_cast<Index>(distractors.size()) < o.distractor_classes) return false;
    choose(distractors, o.distractor_classes, random);
    distractors.resize(static_cast<std::size_t>(o.distractor_classes));
  }
  const RowMatrix& points = source_.points(task);
  const Index d = points.cols();
  out.task = task;
  out.ways = o.ways;
  out.shots = o.shots;
  out.support.resize(o.ways * o.shots, d);
  out.query.resize(o.ways * o.queries, d);
  out.query_labels.resize(o.ways * o.queries);
  const Index unlabelled = (o.ways + o.distractor_classes) * o.unlabelled;
  out.unlabelled.resize(unlabelled, d);
  out.unlabelled_labels.resize(unlabelled);
  Index u = 0;
  for (Index k = 0; k < o.ways + o.distractor_classes; ++k) {
    const bool distractor = k >= o.ways;
    const Index c = distractor ? distractors[static_cast<std::size_t>(k - o.ways)] : chosen_[static_cast<std::size_t>(k)];
    scratch_ = classes.rows[static_cast<std::size_t>(c)];
    const Index labelled = distractor ? 0 : o.shots + o.queries;
    choose(scratch_, labelled + o.unlabelled, random);
    if (!distractor) {
      for (Index i = 0; i < o.shots; ++i) copy_row(points, scratch_[static_cast<std::size_t>(i)], out.support, k * o.shots + i);
      for (Index i = 0; i < o.queries; ++i) {
        copy_row(points, scratch_[static_cast<std::size_t>(o.shots + i)], out.query, k * o.queries + i);
        out.query_labels[k * o.queries + i] = static_cast<std::int32_t>(k);
      }
    }
    for (Index i = 0; i < o.unlabelled; ++i, ++u) {
      copy_row(points, scratch_[static_cast<std::size_t>(labelled + i)], out.unlabelled, u);
      out.unlabelled_labels[u] = distractor ? -1 : static_cast<std::int32_t>(k);
    }
  }
  return true;
}

// Labels as classes 0..C-1 in increasing label order, -1 (unknown) kept.
IntVector class_numbers(const IntVector& labels) {
  std::map<std::int32_t, std::int32_t> number;
  for (Index i = 0; i < labels.size(); ++i)
    if (labels[i] >= 0) number.emplace(labels[i], 0);
  std::int32_t next = 0;
  for (auto& [label, value] : number) value = next++;
  IntVector classes(labels.size());
  for (Index i = 0; i < labels.size(); ++i) classes[i] = labels[i] >= 0 ? number[labels[i]] : -1;
  return classes;
}

}  // namespace metagmm::task
