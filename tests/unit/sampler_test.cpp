// The sampler of docs/design.md, "Determinism": an episode is a pure function of (seed, step, j).
#include <gtest/gtest.h>

#include <set>

#include "metagmm/task/sampler.hpp"
#include "metagmm/core/error.hpp"
#include "support.hpp"

namespace metagmm::task {
namespace {

GeneratorOptions small_family() {
  GeneratorOptions o;
  o.tasks = 40;
  o.points_min = 30;
  o.points_max = 50;
  o.seed = 4;
  return o;
}

std::vector<double> flatten(const Episode& e) {
  std::vector<double> out{static_cast<double>(e.task)};
  out.insert(out.end(), e.support.data(), e.support.data() + e.support.size());
  out.insert(out.end(), e.query.data(), e.query.data() + e.query.size());
  return out;
}

TEST(Sampler, EpisodeIsAPureFunctionOfSeedStepAndIndex) {
  auto source = make_generated_source(small_family(), 1 << 20);
  Sampler a(*source, {10, 5}, 7), b(*source, {10, 5}, 7), other_seed(*source, {10, 5}, 8);
  Episode x, y;
  // Drawn in different orders by different samplers: identical.
  a.training(3, 2, x);
  const auto first = flatten(x);
  for (int t = 0; t < 5; ++t) b.training(t, 1, y);
  b.training(3, 2, y);
  EXPECT_EQ(first, flatten(y));
  a.training(3, 3, x);
  EXPECT_NE(first, flatten(x));
  other_seed.training(3, 2, x);
  EXPECT_NE(first, flatten(x));
}

TEST(Sampler, SupportAndQueryAreDisjointPointsOfOneTrainTask) {
  auto source = make_generated_source(small_family(), 1 << 20);
  const auto& train = source->tasks_in(Split::train);
  Sampler sampler(*source, {10, 0}, 1);
  Episode e;
  std::set<Index> tasks;
  for (int j = 0; j < 50; ++j) {
    sampler.training(0, j, e);
    tasks.insert(e.task);
    ASSERT_NE(std::find(train.begin(), train.end(), e.task), train.end());
    const RowMatrix& points = source->points(e.task);
    ASSERT_EQ(e.support.rows() + e.query.rows(), points.rows());  // query 0: all the rest
    // Every point used exactly once.
    std::multiset<std::pair<double, double>> all, used;
    for (Index i = 0; i < points.rows(); ++i) all.insert({points(i, 0), points(i, 1)});
    for (Index i = 0; i < e.support.rows(); ++i) used.insert({e.support(i, 0), e.support(i, 1)});
    for (Index i = 0; i < e.query.rows(); ++i) used.insert({e.query(i, 0), e.query(i, 1)});
    ASSERT_EQ(all, used);
  }
  EXPECT_GT(tasks.size(), 10u);  // tasks are spread over the train split
}

TEST(Sampler, ValidationEpisodesAreFixedAndFromTheValidationSplit) {
  auto source = make_generated_source(small_family(), 1 << 20);
  Sampler a(*source, {10, 5}, 1), b(*source, {10, 5}, 1);
  ASSERT_EQ(a.validation_count(), static_cast<Index>(source->tasks_in(Split::validation).size()));
  Episode x, y;
  a.validation(1, x);
  b.validation(0, y);
  b.validation(1, y);
  EXPECT_EQ(flatten(x), flatten(y));
  EXPECT_EQ(x.task, source->tasks_in(Split::validation)[1]);
}

TEST(Sampler, RefusesTasksTooSmallForTheEpisode) {
  auto source = make_generated_source(small_family(), 1 << 20);
  EXPECT_THROW(Sampler(*source, {30, 0}, 1), InputError);  // 30 support + at least 1 query > 30 points
  EXPECT_THROW(Sampler(*source, {20, 20}, 1), InputError);
  EXPECT_NO_THROW(Sampler(*source, {29, 1}, 1));
}

TEST(Sampler, FileSourceMatchesTheGeneratedTasks) {
  const auto options = small_family();
  const std::string path = testing::temp_file("sampler_tasks.h5");
  generate_task_set(options, path);
  auto file = open_task_file(path, 0);  // no cache: every read goes to the file
  auto generated = make_generated_source(options, 1 << 20);
  Sampler a(*file, {10, 5}, 3), b(*generated, {10, 5}, 3);
  Episode x, y;
  for (int j = 0; j < 5; ++j) {
    a.training(2, j, x);
    b.training(2, j, y);
    EXPECT_EQ(flatten(x), flatten(y));
  }
}

}  // namespace
}  // namespace metagmm::task
