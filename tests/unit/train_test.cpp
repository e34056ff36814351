// The training loop in-process with the serial communicator, and the test that meta-learning
// pays: on an anchored family, the Reptile initialisation adapted with 5 steps beats the same
// 5 steps from the random start and 5 EM steps from k-means++ on held-out tasks.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "metagmm/comm/communicator.hpp"
#include "metagmm/gmm/em.hpp"
#include "metagmm/gmm/init.hpp"
#include "metagmm/meta/maml.hpp"
#include "metagmm/meta/reptile.hpp"
#include "metagmm/train/reduction.hpp"
#include "metagmm/train/shares.hpp"
#include "metagmm/train/trainer.hpp"
#include "metagmm/core/error.hpp"
#include "support.hpp"

namespace metagmm::train {
namespace {

TEST(ShareOf, CoversEveryTaskOnceWithSharesDifferingByAtMostOne) {
  for (Index tasks : {1, 7, 10, 64}) {
    for (int ranks = 1; ranks <= 9; ++ranks) {
      Index next = 0;
      for (int r = 0; r < ranks; ++r) {
        const auto [begin, end] = share_of(tasks, r, ranks);
        EXPECT_EQ(begin, next);
        EXPECT_LE(end - begin, tasks / ranks + 1);
        EXPECT_GE(end - begin, tasks / ranks);
        next = end;
      }
      EXPECT_EQ(next, tasks);
    }
  }
}

// The ranges of all ranks, checked to tile [0, tasks) with at least one task each.
std::vector<Index> share_sizes(const BalancedShares& shares, Index tasks, int ranks) {
  std::vector<Index> sizes;
  Index next = 0;
  for (int r = 0; r < ranks; ++r) {
    const auto [begin, end] = shares.range(r);
    EXPECT_EQ(begin, next) << "rank " << r;
    EXPECT_GE(end - begin, tasks >= ranks ? 1 : 0) << "rank " << r;
    sizes.push_back(end - begin);
    next = end;
  }
  EXPECT_EQ(next, tasks);
  return sizes;
}

// Each rank's time for its share: `cost` ns per task.
std::vector<std::int64_t> step_times(const std::vector<Index>& sizes, const std::vector<std::int64_t>& cost) {
  std::vector<std::int64_t> times;
  for (std::size_t r = 0; r < sizes.size(); ++r) times.push_back(sizes[r] * cost[r]);
  return times;
}

TEST(BalancedShares, StartsEqualAndFollowsEachRanksSpeed) {
  const Index tasks = 1600;
  const int ranks = 4;
  BalancedShares shares(tasks, ranks);
  EXPECT_EQ(share_sizes(shares, tasks, ranks), (std::vector<Index>{400, 400, 400, 400}));
  // Rank 2 is twice as slow as the others, rank 3 1.25 times.
  const std::vector<std::int64_t> cost = {10000, 10000, 20000, 12500};
  for (int step = 0; step < 100; ++step) shares.update(step_times(share_sizes(shares, tasks, ranks), cost));
  const auto sizes = share_sizes(shares, tasks, ranks);
  // Speeds 1 : 1 : 0.5 : 0.8 of 3.3 split 1600 as 484.8, 484.8, 242.4, 387.9; within a task
  // (integer rounding of the shares).
  const std::vector<double> expected = {484.85, 484.85, 242.42, 387.88};
  for (int r = 0; r < ranks; ++r) EXPECT_NEAR(static_cast<double>(sizes[static_cast<std::size_t>(r)]), expected[static_cast<std::size_t>(r)], 1.0) << r;
  // Balanced: the slowest rank's step is within 1% of the fastest's.
  const auto times = step_times(sizes, cost);
  const auto [fastest, slowest] = std::minmax_element(times.begin(), times.end());
  EXPECT_LT(static_cast<double>(*slowest), 1.01 * static_cast<double>(*fastest));
}

TEST(BalancedShares, KeepsEveryRankTimedAndEqualSharesWhenTooFewTasks) {
  BalancedShares shares(10, 4);
  const std::vector<std::int64_t> cost = {1, 1000000, 1000000, 1000000};  // rank 0 a million times faster
  for (int step = 0; step < 50; ++step) shares.update(step_times(share_sizes(shares, 10, 4), cost));
  EXPECT_EQ(share_sizes(shares, 10, 4), (std::vector<Index>{7, 1, 1, 1}));
  BalancedShares few(3, 4);  // rank 3 has no task to be timed by: the equal split stays
  const auto before = share_sizes(few, 3, 4);
  few.update(std::vector<std::int64_t>{5, 1, 9, 0});
  EXPECT_EQ(share_sizes(few, 3, 4), before);
}

TEST(StepReduction, SumsContributionsAndCarriesRequests) {
  auto comm = comm::make_serial_communicator();
  StepReduction reduction(2, 1);
  const std::vector<double> a = {1e20, 0.25}, b = {1.0, -0.5}, c = {-1e20, 0.0};
  for (const auto* v : {&a, &b, &c}) reduction.add(*v, "test", 0);
  EXPECT_FALSE(reduction.stop_requested());
  reduction.request_save();
  reduction.set_adapt_seconds(0, 0.5);
  reduction.reduce(*comm);
  EXPECT_EQ(reduction.sums(), (std::vector<double>{1.0, -0.25}));  // exact: 1e20 cancels
  EXPECT_TRUE(reduction.save_requested());
  EXPECT_FALSE(reduction.stop_requested());
  EXPECT_EQ(reduction.slowest_adapt_seconds(), 0.5);
  reduction.clear();
  reduction.reduce(*comm);
  EXPECT_EQ(reduction.sums(), (std::vector<double>{0.0, 0.0}));
  EXPECT_FALSE(reduction.save_requested());
  const std::vector<double> diverged = {std::nan(""), 0.0};
  EXPECT_THROW(reduction.add(diverged, "test", 3), std::runtime_error);
}

struct FamilyRun {
  task::GeneratorOptions family;
  std::unique_ptr<task::TaskSource> source;
  gmm::GmmShape shape{4, 2, gmm::CovarianceType::diag};
  meta::InnerOptions inner;
  TrainOptions options;
  explicit FamilyRun(const std::string& run_dir) {
    family.family = task::Family::anchored;
    family.tasks = 300;
    family.points_min = 60;
    family.points_max = 80;
    family.seed = 21;
    source = task::make_generated_source(family, 1 << 28);
    inner.steps = 5;
    inner.learning_rate = 0.3;
    options.steps = 300;
    options.meta_batch = 10;
    options.seed = 3;
    options.validate_every = 0;
    options.checkpoint_every = 0;
    options.run_dir = run_dir;
    std::filesystem::remove_all(run_dir);
    std::filesystem::create_directories(run_dir);
  }
};

TEST(Trainer, SameSeedSameBitsAndCheckpointAtTheEnd) {
  const auto dir = std::filesystem::path(testing::temp_file("x")).parent_path();
  Vector thetas[2];
  for (int i = 0; i < 2; ++i) {
    FamilyRun s((dir / ("run" + std::to_string(i))).string());
    s.options.steps = 20;
    task::Sampler sampler(*s.source, {10, 0}, s.options.seed);
    meta::Reptile reptile(s.shape, s.inner, meta::ReptileWeighting::uniform);
    auto comm = comm::make_serial_communicator();
    std::ostringstream log;
    Trainer trainer(s.options, s.shape, sampler, reptile, *comm, log, false);
    const auto result = trainer.run(initial_meta_parameters(*s.source, s.shape, s.options.seed), nullptr);
    EXPECT_EQ(result.outcome, TrainOutcome::finished);
    EXPECT_EQ(result.step, 20);
    const Checkpoint saved = read_checkpoint(result.checkpoint);
    EXPECT_EQ(saved.theta, result.theta);
    EXPECT_EQ(saved.metrics.size(), 20u);
    thetas[i] = result.theta;
  }
  EXPECT_EQ(thetas[0], thetas[1]);
}

// Each algorithm with the outer optimiser that suits it: Reptile's step fraction, or Adam on a
// meta-gradient.
std::unique_ptr<meta::Algorithm> make_algorithm(const std::string& name, const FamilyRun& s, TrainOptions& options) {
  if (name == "reptile") return std::make_unique<meta::Reptile>(s.shape, s.inner, meta::ReptileWeighting::uniform);
  options.outer.method = meta::OptimizerMethod::adam;
  options.outer.learning_rate = 0.02;
  const auto order = name == "fomaml" ? meta::MamlOrder::first : meta::MamlOrder::second;
  const auto step_sizes = name == "meta_sgd" ? meta::StepSizeLearning::block : meta::StepSizeLearning::none;
  return std::make_unique<meta::Maml>(s.shape, s.inner, order, step_sizes);
}

class MetaLearningBenefit : public ::testing::TestWithParam<std::string> {};

TEST_P(MetaLearningBenefit, BeatsTheRandomStartAndEmFromKMeansOnHeldOutTasks) {
  FamilyRun s(std::filesystem::path(testing::temp_file("x")).parent_path() / "run");
  const task::EpisodeOptions episodes{10, 0};  // 10 support points, the rest is the query
  task::Sampler sampler(*s.source, episodes, s.options.seed);
  const auto algorithm = make_algorithm(GetParam(), s, s.options);
  auto comm = comm::make_serial_communicator();
  std::ostringstream log;
  Trainer trainer(s.options, s.shape, sampler, *algorithm, *comm, log, false);
  const Vector learned = trainer.run(initial_meta_parameters(*s.source, s.shape, s.options.seed), nullptr).theta;
  // The random start: K random points of a training task as means, covariances from them (and
  // the inner learning rate as the step sizes, where they are learned).
  RandomStream pick(s.options.seed, StreamPurpose::test);
  const auto& train = s.source->tasks_in(task::Split::train);
  const Vector model = gmm::initialize(s.source->points(train[pick.below(train.size())]), s.shape,
                                       gmm::InitMethod::random_points, 1e-6, pick).pack();
  Vector start(learned.size());
  start << model, algorithm->initial_extra_parameters();

  // Held-out tasks: the validation split, never drawn for training.
  double meta = 0, from_start = 0, em = 0;
  const Index tasks = sampler.validation_count();
  ASSERT_GE(tasks, 20);
  task::Episode e;
  gmm::Evaluator evaluator;
  for (Index v = 0; v < tasks; ++v) {
    sampler.validation(v, e);
    meta += algorithm->adapted_log_likelihood(learned, e);
    from_start += algorithm->adapted_log_likelihood(start, e);
    RandomStream random(s.options.seed, StreamPurpose::test, static_cast<std::uint64_t>(v));
    gmm::Gmm model = gmm::initialize(e.support, s.shape, gmm::InitMethod::kmeans_plus_plus, 1e-6, random);
    for (int i = 0; i < 5; ++i) gmm::em_step(model, e.support, 1e-6, evaluator);
    em += evaluator.mean_log_likelihood(model, e.query);
  }
  meta /= tasks;
  from_start /= tasks;
  em /= tasks;
  std::cout << "held-out query log-likelihood per point: " << GetParam() << " " << meta << ", same steps from the start "
            << from_start << ", EM from k-means++ " << em << "\n";
  // Loose margins (nats per point): the gaps measured with this seed are far larger.
  constexpr double kMargin = 0.2;
  EXPECT_GT(meta, from_start + kMargin);
  EXPECT_GT(meta, em + kMargin);
}

INSTANTIATE_TEST_SUITE_P(EveryAlgorithm, MetaLearningBenefit, ::testing::Values("reptile", "maml", "fomaml", "meta_sgd"));

}  // namespace
}  // namespace metagmm::train
