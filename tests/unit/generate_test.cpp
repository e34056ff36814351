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
  for (auto family : {Family::uniform, Family::anchored, Family::warped, Family::transformed, Family::heavy}) {
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

// The offsets of a task's means from their anchors, per task: [tasks][kept components] rows.
std::vector<RowMatrix> anchor_offsets(const GeneratorOptions& o) {
  const gmm::Gmm anchors = family_anchors(o);
  std::vector<RowMatrix> offsets;
  for (Index t = 0; t < o.tasks; ++t) {
    const GeneratedTask task = generate_task(o, anchors, nullptr, t);
    RowMatrix rows(task.truth.model.shape.components, o.dim);
    for (Index c = 0; c < rows.rows(); ++c)
      rows.row(c) = task.truth.model.means.row(c) - anchors.means.row(task.truth.anchors[static_cast<std::size_t>(c)]);
    offsets.push_back(rows);
  }
  return offsets;
}

TEST(Generate, TransformedTasksMoveTheirComponentsTogether) {
  GeneratorOptions o = small(Family::transformed);
  o.tasks = 200;
  o.drop = 0.0;
  o.jitter = 0.05;
  o.spin = 0.0;
  o.zoom = 0.0;  // a pure shift: every component of a task moves by the same vector
  double within = 0.0, between = 0.0;
  for (const RowMatrix& rows : anchor_offsets(o)) {
    const Eigen::RowVectorXd centre = rows.colwise().mean();
    within += (rows.rowwise() - centre).squaredNorm() / static_cast<double>(rows.size());
    between += centre.squaredNorm() / static_cast<double>(o.dim);
  }
  within /= static_cast<double>(o.tasks);
  between /= static_cast<double>(o.tasks);
  EXPECT_NEAR(between, o.shift * o.shift, 0.25 * o.shift * o.shift);  // the shared shift's variance
  EXPECT_LT(within, 4.0 * o.jitter * o.jitter);                       // only the small jitter apart
  // With rotation and scale on, the components no longer share one offset.
  o.spin = 0.5;
  o.zoom = 0.3;
  double spread = 0.0;
  for (const RowMatrix& rows : anchor_offsets(o)) spread += (rows.rowwise() - rows.colwise().mean()).squaredNorm();
  EXPECT_GT(spread / static_cast<double>(o.tasks * o.components * o.dim), 10.0 * o.jitter * o.jitter);
}

TEST(Generate, HeavyJitterHasStudentTails) {
  GeneratorOptions o = small(Family::heavy);
  o.tasks = 400;
  o.drop = 0.0;
  o.tail_dof = 3.0;
  std::vector<double> z;
  for (const RowMatrix& rows : anchor_offsets(o))
    for (Index i = 0; i < rows.size(); ++i) z.push_back(rows.data()[i] / (o.jitter * o.scale));
  double m2 = 0.0, beyond = 0.0;
  for (const double x : z) {
    m2 += x * x;
    beyond += std::abs(x) > 4.0;
  }
  m2 /= static_cast<double>(z.size());
  beyond /= static_cast<double>(z.size());
  EXPECT_NEAR(m2, 3.0, 1.0);        // t_3 has variance dof / (dof - 2) = 3
  EXPECT_GT(beyond, 0.01);          // P(|t_3| > 4) = 0.028; a normal's is 6e-5
  EXPECT_LT(beyond, 0.06);
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
  rejects([](GeneratorOptions& o) { o.shift = -1.0; });
  rejects([](GeneratorOptions& o) { o.spin = NAN; });
  rejects([](GeneratorOptions& o) { o.zoom = -0.1; });
  rejects([](GeneratorOptions& o) { o.tail_dof = 0.0; });
  EXPECT_THROW(SplitFractions::parse("0.5:0.5", "--split"), InputError);
  EXPECT_THROW(SplitFractions::parse("0.5:0.6:0.1", "--split"), InputError);
  EXPECT_THROW(parse_family("gaussian", "--family"), InputError);
}

}  // namespace
}  // namespace metagmm::task
