// The evaluation runner on generated tasks: the numbers it records against the same adaptation
// done by hand, the stopped adaptation, the summary's interval, and the evaluation episodes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "metagmm/core/error.hpp"
#include "metagmm/eval/report.hpp"
#include "metagmm/eval/runner.hpp"
#include "metagmm/eval/tune.hpp"
#include "metagmm/gmm/em.hpp"
#include "metagmm/gmm/rand_index.hpp"

namespace metagmm::eval {
namespace {

task::GeneratorOptions small_family() {
  task::GeneratorOptions o;
  o.dim = 2;
  o.components = 3;
  o.tasks = 40;
  o.points_min = 30;
  o.points_max = 60;
  o.seed = 5;
  o.split = task::SplitFractions{0.5, 0.25, 0.25};
  return o;
}

// Follows a fixed model for `good` steps, then gives a model whose likelihood is not finite.
class FailsAfter final : public Method {
 public:
  FailsAfter(gmm::Gmm model, int good) : Method("fails"), model_(std::move(model)), good_(good) {}
  void adapt(Index, RowMatrixRef, int steps, const Visit& visit) override {
    for (int j = 0; j <= steps; ++j) {
      gmm::Gmm shown = model_;
      if (j > good_) shown.means(0, 0) = std::numeric_limits<double>::quiet_NaN();
      visit(shown);
    }
  }

 private:
  gmm::Gmm model_;
  int good_;
};

TEST(EvaluationEpisodes, AreFixedAndCarryTheQueryLabels) {
  auto source = task::make_generated_source(small_family(), 1 << 20);
  task::EpisodeOptions options;
  options.support = 12;
  task::Sampler sampler(*source, options, 9);
  task::Episode a, b;
  sampler.evaluation(task::Split::test, 3, a);
  sampler.evaluation(task::Split::test, 3, b);
  EXPECT_EQ(a.support, b.support);
  EXPECT_EQ(a.query, b.query);
  const Index task = source->tasks_in(task::Split::test)[3];
  EXPECT_EQ(a.task, task);
  const RowMatrix& points = source->points(task);
  const IntVector& labels = source->labels(task);
  ASSERT_EQ(a.query.rows(), points.rows() - 12);
  ASSERT_EQ(a.query_labels.size(), a.query.rows());
  for (Index i = 0; i < a.query.rows(); ++i) {  // each query row is a row of the task, with its label
    Index found = -1;
    for (Index r = 0; r < points.rows(); ++r)
      if (points.row(r) == a.query.row(i)) found = r;
    ASSERT_GE(found, 0);
    EXPECT_EQ(a.query_labels[i], labels[found]);
  }
  EXPECT_THROW(task::Sampler(*source, task::EpisodeOptions{20, 100}, 9), InputError);
}

TEST(Runner, RecordsTheAdaptationAsDoneByHand) {
  auto source = task::make_generated_source(small_family(), 1 << 20);
  const gmm::GmmShape shape{3, 2, gmm::CovarianceType::diag};
  const double reg_covar = 1e-6;
  std::vector<std::unique_ptr<Method>> methods;
  methods.push_back(em_from_initialization("em-kmeans++", shape, gmm::InitMethod::kmeans_plus_plus, reg_covar, 4));
  methods.push_back(oracle("oracle", [&](Index t) { return source->truth(t); }));
  task::Sampler sampler(*source, task::EpisodeOptions{15, 0}, 4);
  RunOptions options;
  options.steps = 4;
  options.converge_steps = 20;
  options.tolerance = 1e-3;
  auto comm = comm::make_serial_communicator();
  const Results r = evaluate(methods, *source, sampler, task::Split::test, options, *comm);
  ASSERT_EQ(r.task_count(), static_cast<Index>(source->tasks_in(task::Split::test).size()));
  ASSERT_TRUE(r.labels);
  gmm::Evaluator evaluator;
  task::Episode episode;
  for (Index t = 0; t < r.task_count(); ++t) {
    sampler.evaluation(task::Split::test, t, episode);
    EXPECT_EQ(r.tasks[static_cast<std::size_t>(t)], episode.task);
    EXPECT_EQ(r.query_points[static_cast<std::size_t>(t)], episode.query.rows());
    // EM from k-means++ by hand: the stream of the task, its steps, its converged value.
    RandomStream random(4, StreamPurpose::init, static_cast<std::uint64_t>(episode.task));
    gmm::Gmm model = gmm::initialize(episode.support, shape, gmm::InitMethod::kmeans_plus_plus, reg_covar, random);
    std::vector<double> support;
    for (int j = 0; j <= options.converge_steps; ++j) {
      if (j > 0) gmm::em_step(model, episode.support, reg_covar, evaluator);
      support.push_back(evaluator.mean_log_likelihood(model, episode.support));
      if (j <= options.steps) {
        EXPECT_EQ(r.query[r.curve(0, t) + static_cast<std::size_t>(j)], evaluator.mean_log_likelihood(model, episode.query));
        EXPECT_EQ(r.support[r.curve(0, t) + static_cast<std::size_t>(j)], support.back());
      }
      if (j == options.steps) {
        EXPECT_EQ(r.ari[r.cell(0, t)],
                  gmm::adjusted_rand_index(episode.query_labels, evaluator.assignments(model, episode.query)));
      }
    }
    int first = 0;
    while (std::abs(support[static_cast<std::size_t>(first)] - support.back()) > options.tolerance) ++first;
    EXPECT_EQ(r.steps_to_tolerance[r.cell(0, t)], first);
    EXPECT_EQ(r.diverged[r.cell(0, t)], 0);
    // The oracle: the truth's query log-likelihood at every step, converged at once.
    const double truth = evaluator.mean_log_likelihood(source->truth(episode.task), episode.query);
    for (int j = 0; j <= options.steps; ++j) EXPECT_EQ(r.query[r.curve(1, t) + static_cast<std::size_t>(j)], truth);
    EXPECT_EQ(r.steps_to_tolerance[r.cell(1, t)], 0);
  }
}

TEST(Runner, AStoppedAdaptationKeepsItsLastFiniteValues) {
  auto source = task::make_generated_source(small_family(), 1 << 20);
  std::vector<std::unique_ptr<Method>> methods;
  methods.push_back(std::make_unique<FailsAfter>(source->truth(source->tasks_in(task::Split::test)[0]), 2));
  task::Sampler sampler(*source, task::EpisodeOptions{10, 0}, 1);
  RunOptions options;
  options.steps = 5;
  options.converge_steps = 8;
  options.max_tasks = 2;
  auto comm = comm::make_serial_communicator();
  const Results r = evaluate(methods, *source, sampler, task::Split::test, options, *comm);
  ASSERT_EQ(r.task_count(), 2);
  for (Index t = 0; t < 2; ++t) {
    EXPECT_EQ(r.diverged[r.cell(0, t)], 1);
    for (int j = 3; j <= options.steps; ++j) {
      EXPECT_EQ(r.query[r.curve(0, t) + static_cast<std::size_t>(j)], r.query[r.curve(0, t) + 2]);
      EXPECT_EQ(r.support[r.curve(0, t) + static_cast<std::size_t>(j)], r.support[r.curve(0, t) + 2]);
    }
    EXPECT_TRUE(std::isfinite(r.query[r.curve(0, t) + 5]));
  }
  options.steps = -1;
  EXPECT_THROW(evaluate(methods, *source, sampler, task::Split::test, options, *comm), InputError);
}

// The score tune_relevance maximises, computed here by hand with map_em_step.
double map_score(const gmm::Gmm& prior, const std::vector<task::Episode>& episodes, const gmm::Relevance& r, int steps) {
  gmm::Evaluator evaluator;
  double total = 0.0;
  for (const auto& e : episodes) {
    gmm::Gmm model = prior;
    for (int j = 0; j < steps; ++j) gmm::map_em_step(model, prior, e.support, r, 1e-6, evaluator);
    total += evaluator.mean_log_likelihood(model, e.query);
  }
  return total / static_cast<double>(episodes.size());
}

TEST(TuneRelevance, ChoosesTheBestScoredSettingAndBeatsEverySharedFactor) {
  auto source = task::make_generated_source(small_family(), 0);
  task::Sampler sampler(*source, task::EpisodeOptions{8, 0}, 3);
  std::vector<task::Episode> episodes(10);
  for (Index i = 0; i < 10; ++i) sampler.evaluation(task::Split::validation, i, episodes[static_cast<std::size_t>(i)]);
  const gmm::Gmm prior = task::family_anchors(small_family());
  const std::vector<double> grid = {0.5, 4, 32};
  const RelevanceChoice choice = tune_relevance(prior, episodes, grid, 2, 1e-6);
  // 3 shared, then 2 rounds of 3 blocks x 2 other values.
  EXPECT_EQ(choice.candidates, 3 + 2 * 3 * 2);
  EXPECT_DOUBLE_EQ(choice.score, map_score(prior, episodes, choice.relevance, 2));
  for (const double r : grid) EXPECT_GE(choice.score, map_score(prior, episodes, {r, r, r}, 2)) << r;
  for (const double r : {choice.relevance.weights, choice.relevance.means, choice.relevance.covariances})
    EXPECT_NE(std::find(grid.begin(), grid.end(), r), grid.end());
  const RelevanceChoice again = tune_relevance(prior, episodes, grid, 2, 1e-6);
  EXPECT_EQ(again.relevance.to_string(), choice.relevance.to_string());
}

TEST(TuneRelevance, ParsesAGridAndRefusesBadEntries) {
  EXPECT_EQ(parse_relevance_grid("0.5,2,16", "--g"), (std::vector<double>{0.5, 2, 16}));
  for (const char* bad : {"", "1,,2", "1,-2", "x", "1,inf"}) EXPECT_THROW(parse_relevance_grid(bad, "--g"), InputError) << bad;
}

TEST(Summary, IsTheMeanAndNormalInterval) {
  const std::vector<double> values{1.0, 2.0, 4.0, std::numeric_limits<double>::quiet_NaN(), 7.0};
  const Summary s = summarize(values);
  EXPECT_EQ(s.n, 4);
  EXPECT_DOUBLE_EQ(s.mean, 3.5);
  // Sample variance (6.25 + 2.25 + 0.25 + 12.25) / 3 = 7; half-width z sqrt(7 / 4).
  EXPECT_NEAR(s.half_width, 1.959963984540054 * std::sqrt(7.0 / 4.0), 1e-14);
  EXPECT_EQ(summarize(std::vector<double>{}).n, 0);
}

}  // namespace
}  // namespace metagmm::eval
