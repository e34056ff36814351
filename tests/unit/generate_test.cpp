#include <gtest/gtest.h>

#include "metagmm/core/error.hpp"
#include "metagmm/task/generate.hpp"
#include "support.hpp"

namespace metagmm::task {
namespace {

using metagmm::testing::temp_file;

GeneratorOptions small(Family family) {
  GeneratorOptions o;
  o.family = family;
  o.tasks = 20;
  o.dim = 3;
  o.components = 4;
  o.points_min = 30;
  o.points_max = 60;
  o.seed = 5;
  return o;
}

TEST(Generate, SameSeedSameTasksAndEachTaskIndependentOfTheTaskCount) {
  for (auto family : {Family::uniform, Family::anchored, Family::warped}) {
    GeneratorOptions o = small(family);
    const std::string a = temp_file("a.h5"), b = temp_file("b.h5"), c = temp_file("c.h5"), other = temp_file("other.h5");
    generate_task_set(o, a);
    generate_task_set(o, b);
    GeneratorOptions more = o;
    more.tasks = 50;
    generate_task_set(more, c);
    GeneratorOptions reseeded = o;
    reseeded.seed = 6;
    generate_task_set(reseeded, other);
    const TaskSetReader ra(a), rb(b), rc(c), ro(other);
    for (Index t = 0; t < o.tasks; ++t) {
      EXPECT_EQ(ra.points(t), rb.points(t)) << to_string(family) << " task " << t;
      EXPECT_EQ(ra.points(t), rc.points(t)) << to_string(family) << " task " << t;
      EXPECT_EQ(ra.labels(t), rc.labels(t));
      EXPECT_EQ(ra.truth(t).pack(), rc.truth(t).pack());
    }
    EXPECT_NE(ra.points(0), ro.points(0));
  }
}

TEST(Generate, SplitsHaveExactCounts) {
  GeneratorOptions o = small(Family::anchored);
  o.tasks = 100;
  o.split = SplitFractions::parse("0.7:0.2:0.1", "--split");
  const std::string path = temp_file("split.h5");
  generate_task_set(o, path);
  const TaskSetReader reader(path);
  EXPECT_EQ(reader.tasks_in(Split::train).size(), 70u);
  EXPECT_EQ(reader.tasks_in(Split::validation).size(), 20u);
  EXPECT_EQ(reader.tasks_in(Split::test).size(), 10u);
}

TEST(Generate, LabelledPointsFollowTheirTrueComponents) {
  for (auto type : {gmm::CovarianceType::diag, gmm::CovarianceType::spherical, gmm::CovarianceType::full}) {
    GeneratorOptions o = small(Family::anchored);
    o.truth_covariance = type;
    o.points_min = o.points_max = 4000;
    o.tasks = 2;
    const gmm::Gmm anchors = family_anchors(o);
    const GeneratedTask task = generate_task(o, anchors, nullptr, 1);
    const gmm::GmmMoments truth = gmm::to_moments(task.truth.model);
    for (Index c = 0; c < task.truth.model.shape.components; ++c) {
      Eigen::RowVectorXd sum = Eigen::RowVectorXd::Zero(o.dim);
      Index count = 0;
      for (Index n = 0; n < task.points.rows(); ++n)
        if (task.labels[n] == c) {
          sum += task.points.row(n);
          ++count;
        }
      ASSERT_GT(count, 50) << "component " << c << " has too few points to check";
      // The sample mean's standard error is sigma / sqrt(count) <= 1.35 / 7; allow 5 of them.
      EXPECT_LT((sum / static_cast<double>(count) - truth.means.row(c)).cwiseAbs().maxCoeff(), 5 * 1.35 / std::sqrt(count));
      // Anchored: each task mean is its anchor's plus N(0, (jitter * scale)^2) per coordinate.
      const Index anchor = task.truth.anchors[c];
      EXPECT_LT((truth.means.row(c) - anchors.means.row(anchor)).cwiseAbs().maxCoeff(), 6 * o.jitter * o.scale);
    }
  }
}

TEST(Generate, UniformTasksShareOneIsotropicScale) {
  GeneratorOptions o = small(Family::uniform);
  o.scale = 0.7;
  const GeneratedTask task = generate_task(o, gmm::Gmm(gmm::GmmShape{1, o.dim, o.truth_covariance}), nullptr, 3);
  EXPECT_EQ(task.truth.model.shape.components, o.components);
  for (Index k = 0; k < o.components; ++k)
    EXPECT_LT((gmm::covariance_matrix(task.truth.model, k) - 0.49 * Matrix::Identity(3, 3)).cwiseAbs().maxCoeff(), 1e-12);
}

TEST(Generate, WarpedIsAnchoredPushedThroughTheFamilyMap) {
  const GeneratorOptions anchored = small(Family::anchored);
  GeneratorOptions warped = anchored;
  warped.family = Family::warped;
  const gmm::Gmm anchors = family_anchors(anchored);
  const Warp warp = family_warp(warped);
  const GeneratedTask latent = generate_task(anchored, anchors, nullptr, 4);
  const GeneratedTask pushed = generate_task(warped, anchors, &warp, 4);
  EXPECT_EQ(pushed.points, warp.apply(latent.points));
  EXPECT_GT((pushed.points - latent.points).cwiseAbs().maxCoeff(), 0.1);
  // g is monotone in each coordinate when amplitude * frequency < 1.
  for (Index j = 0; j < warped.dim; ++j) EXPECT_LT(warp.amplitude[j] * warp.frequency[j], 1.0);
}

TEST(Generate, RejectsImpossibleOptions) {
  auto rejects = [](const std::function<void(GeneratorOptions&)>& spoil) {
    GeneratorOptions o;
    spoil(o);
    EXPECT_THROW(o.validate(), InputError);
  };
  rejects([](GeneratorOptions& o) { o.dim = 0; });
  rejects([](GeneratorOptions& o) { o.components = 0; });
  rejects([](GeneratorOptions& o) { o.tasks = 0; });
  rejects([](GeneratorOptions& o) { o.points_min = 10; o.points_max = 5; });
  rejects([](GeneratorOptions& o) { o.scale = 0; });
  rejects([](GeneratorOptions& o) { o.drop = 1.0; });
  rejects([](GeneratorOptions& o) { o.warp = 1.0; });
  EXPECT_THROW(SplitFractions::parse("0.5:0.5", "--split"), InputError);
  EXPECT_THROW(SplitFractions::parse("0.5:0.6:0.1", "--split"), InputError);
  EXPECT_THROW(parse_family("gaussian", "--family"), InputError);
}

}  // namespace
}  // namespace metagmm::task
