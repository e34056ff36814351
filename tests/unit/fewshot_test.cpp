// Few-shot episodes: shape, class purity, determinism per (seed, step, episode), distractors,
// and clear errors when tasks cannot give an episode.
#include <gtest/gtest.h>

#include <Eigen/Geometry>
#include <set>

#include "metagmm/core/error.hpp"
#include "metagmm/eval/linear_baselines.hpp"
#include "metagmm/task/fewshot.hpp"

namespace metagmm::task {
namespace {

// Labelled tasks in memory: task t has `classes` classes of `per_class` points; a point's first
// coordinate encodes (task, class, index) so that tests can tell where a row came from.
class LabelledSource final : public TaskSource {
 public:
  LabelledSource(Index tasks, Index classes, Index per_class, bool labelled = true) : labelled_(labelled) {
    for (Index t = 0; t < tasks; ++t) {
      RowMatrix p(classes * per_class, 2);
      IntVector l(classes * per_class);
      for (Index i = 0; i < p.rows(); ++i) {
        const Index c = i % classes;  // classes interleaved in the rows
        l[i] = static_cast<std::int32_t>(10 + c);
        p(i, 0) = static_cast<double>(t * 100000 + c * 1000 + i);
        p(i, 1) = static_cast<double>(c);
      }
      points_.push_back(p);
      labels_.push_back(l);
      (t % 4 == 3 ? validation_ : train_).push_back(t);
    }
  }
  Index dim() const override { return 2; }
  const std::vector<Index>& tasks_in(Split split) const override {
    return split == Split::train ? train_ : split == Split::validation ? validation_ : empty_;
  }
  Index min_task_size(Split) const override { return points_[0].rows(); }
  const RowMatrix& points(Index task) override { return points_[static_cast<std::size_t>(task)]; }
  bool has_labels() const override { return labelled_; }
  const IntVector& labels(Index task) override { return labels_[static_cast<std::size_t>(task)]; }
  bool has_truth() const override { return false; }
  gmm::Gmm truth(Index) override { throw InputError("no truth"); }
  std::string describe() const override { return "test tasks"; }

 private:
  bool labelled_;
  std::vector<RowMatrix> points_;
  std::vector<IntVector> labels_;
  std::vector<Index> train_, validation_, empty_;
};

Index class_of(const RowMatrix& points, Index row) { return static_cast<Index>(points(row, 1)); }

FewShotOptions episode_shape(Index ways, Index shots, Index queries, Index unlabelled = 0, Index distractors = 0) {
  FewShotOptions o;
  o.ways = ways;
  o.shots = shots;
  o.queries = queries;
  o.unlabelled = unlabelled;
  o.distractor_classes = distractors;
  return o;
}

TEST(FewShotSampler, EpisodesHaveTheRequestedShapeAndPureClasses) {
  LabelledSource source(8, 7, 12);
  FewShotSampler sampler(source, episode_shape(4, 2, 3, 2, 2), 5);
  Episode e;
  sampler.training(3, 1, e);
  ASSERT_EQ(e.support.rows(), 8);
  ASSERT_EQ(e.query.rows(), 12);
  ASSERT_EQ(e.unlabelled.rows(), 12);
  EXPECT_EQ(e.ways, 4);
  EXPECT_EQ(e.shots, 2);
  std::set<double> seen;
  std::set<Index> episode_classes;
  for (Index k = 0; k < 4; ++k) {
    const Index c = class_of(e.support, k * 2);
    EXPECT_TRUE(episode_classes.insert(c).second) << "a class appears twice";
    EXPECT_EQ(class_of(e.support, k * 2 + 1), c);
    for (Index i = 0; i < 3; ++i) {
      EXPECT_EQ(e.query_labels[k * 3 + i], k);
      EXPECT_EQ(class_of(e.query, k * 3 + i), c);
    }
    for (Index i = 0; i < 2; ++i) {
      EXPECT_EQ(e.unlabelled_labels[k * 2 + i], k);
      EXPECT_EQ(class_of(e.unlabelled, k * 2 + i), c);
    }
  }
  for (Index u = 8; u < 12; ++u) {
    EXPECT_EQ(e.unlabelled_labels[u], -1);
    EXPECT_EQ(episode_classes.count(class_of(e.unlabelled, u)), 0u) << "a distractor from an episode class";
  }
  for (const RowMatrix* m : {&e.support, &e.query, &e.unlabelled}) {
    for (Index i = 0; i < m->rows(); ++i) {
      EXPECT_EQ(static_cast<Index>((*m)(i, 0)) / 100000, e.task) << "a point from another task";
      EXPECT_TRUE(seen.insert((*m)(i, 0)).second) << "a point drawn twice";
    }
  }
}

TEST(FewShotSampler, EpisodeIsAPureFunctionOfSeedStepAndIndex) {
  LabelledSource source(8, 6, 10);
  const FewShotOptions o = episode_shape(3, 2, 2);
  FewShotSampler a(source, o, 1), b(source, o, 1), other_seed(source, o, 2);
  Episode x, y;
  b.training(9, 4, y);  // different order of use
  a.training(0, 0, x);
  a.training(9, 4, x);
  EXPECT_EQ(x.task, y.task);
  EXPECT_EQ(x.support, y.support);
  EXPECT_EQ(x.query, y.query);
  EXPECT_EQ(x.query_labels, y.query_labels);
  a.training(9, 5, y);
  EXPECT_NE(x.support, y.support);
  other_seed.training(9, 4, y);
  EXPECT_NE(x.support, y.support);
  a.validation(2, x);
  b.validation(2, y);
  EXPECT_EQ(x.support, y.support);
  EXPECT_EQ(x.task % 4, 3);  // from the validation split
  a.evaluation(Split::validation, 7, x);
  b.evaluation(Split::validation, 7, y);
  EXPECT_EQ(x.query, y.query);
}

TEST(FewShotSampler, ClassesAreShuffledAcrossEpisodes) {
  LabelledSource source(1, 5, 6);
  FewShotSampler sampler(source, episode_shape(5, 1, 1), 3);
  std::set<Index> first_classes;
  Episode e;
  for (Index j = 0; j < 40; ++j) {
    sampler.training(0, j, e);
    first_classes.insert(class_of(e.support, 0));
  }
  EXPECT_EQ(first_classes.size(), 5u);
}

TEST(FewShotSampler, RefusesUnlabelledTasksAndImpossibleEpisodes) {
  LabelledSource unlabelled(4, 5, 10, false);
  EXPECT_THROW(FewShotSampler(unlabelled, FewShotOptions{}, 0), InputError);
  LabelledSource small(4, 5, 10);
  FewShotOptions o;
  o.ways = 6;  // more classes than a task has
  FewShotSampler too_many(small, o, 0);
  Episode e;
  try {
    too_many.training(0, 0, e);
    FAIL() << "expected an InputError";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("6 classes"), std::string::npos) << error.what();
  }
  o.ways = 2;
  o.shots = 8;
  o.queries = 3;  // 11 points per class, tasks have 10
  FewShotSampler too_few(small, o, 0);
  EXPECT_THROW(too_few.training(0, 0, e), InputError);
  o.shots = 1;
  o.ways = 1;
  EXPECT_THROW(FewShotSampler(small, o, 0), InputError);
}


// The linear baselines' covariances against a direct computation on the pooled training rows.
TEST(LinearBaselines, TrainingCovariancesAreTheTotalAndPooledWithinClass) {
  LabelledSource source(8, 3, 4);  // tasks 0-2, 4-6 train; classes keyed by (task, label)
  std::vector<Vector> rows;
  std::vector<std::pair<Index, std::int32_t>> keys;
  for (const Index t : source.tasks_in(Split::train))
    for (Index i = 0; i < source.points(t).rows(); ++i) {
      rows.push_back(source.points(t).row(i).transpose());
      keys.emplace_back(t, source.labels(t)[i]);
    }
  const auto n = static_cast<double>(rows.size());
  Vector mean = Vector::Zero(2);
  for (const auto& x : rows) mean += x / n;
  Matrix total = Matrix::Zero(2, 2), within = Matrix::Zero(2, 2);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    total += (rows[i] - mean) * (rows[i] - mean).transpose() / (n - 1);
    Vector class_mean = Vector::Zero(2);
    double members = 0;
    for (std::size_t j = 0; j < rows.size(); ++j)
      if (keys[j] == keys[i]) class_mean += rows[j], ++members;
    class_mean /= members;
    within += (rows[i] - class_mean) * (rows[i] - class_mean).transpose() / (n - 6 * 3);
  }
  const eval::TrainingCovariances c = eval::training_covariances(source);
  // Second moments minus means of values up to 6e5: cancellation leaves ~1e-16 * 6e5^2 / spread^2.
  EXPECT_LT((c.total - total).norm(), 1e-9 * total.norm());
  EXPECT_LT((c.within - within).norm(), 1e-6 * within.norm());
}

TEST(LinearBaselines, ShrinkageLdaIsTheInverseSquareRootOfTheShrunkCovariance) {
  Matrix within(3, 3);
  within << 4, 1, 0, 1, 2, 0.5, 0, 0.5, 0.2;  // positive definite, one small direction
  for (const double lambda : {0.01, 0.3, 1.0}) {
    const Matrix map = eval::shrinkage_lda_map(within, lambda);
    const Matrix shrunk = (1 - lambda) * within + lambda * (within.trace() / 3) * Matrix::Identity(3, 3);
    EXPECT_LT((map * shrunk * map - Matrix::Identity(3, 3)).norm(), 1e-12) << lambda;
    EXPECT_LT((map - map.transpose()).norm(), 1e-12);
  }
  EXPECT_THROW(eval::shrinkage_lda_map(within, 0.0), InputError);
  EXPECT_THROW(eval::shrinkage_lda_map(Matrix::Zero(3, 3), 0.5), InputError);
}

TEST(LinearBaselines, PcaKeepsTheDirectionsOfLargestVarianceFirst) {
  const Matrix q = Eigen::AngleAxisd(0.7, Eigen::Vector3d(1, 2, 3).normalized()).toRotationMatrix();
  const Matrix total = q * Eigen::Vector3d(1.0, 5.0, 3.0).asDiagonal() * q.transpose();
  const Matrix map = eval::pca_map(total, 2);
  ASSERT_EQ(map.cols(), 2);
  EXPECT_NEAR(std::abs(map.col(0).dot(q.col(1))), 1.0, 1e-12);  // variance 5
  EXPECT_NEAR(std::abs(map.col(1).dot(q.col(2))), 1.0, 1e-12);  // variance 3
}

}  // namespace
}  // namespace metagmm::task
