// MAML, first-order MAML and Meta-SGD: the meta-gradient against central differences of the
// meta-objective itself, and what each variant leaves out.
#include <gtest/gtest.h>

#include <cmath>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/gradient.hpp"
#include "metagmm/gmm/sample.hpp"
#include "metagmm/meta/maml.hpp"
#include "metagmm/meta/protonet.hpp"
#include "metagmm/meta/reptile.hpp"
#include "support.hpp"

namespace metagmm::meta {
namespace {

using metagmm::testing::relative_difference;

// Fourth-order central differences of F with h = 1e-3: F is m gradient steps and a loss, smooth
// at the scale of 1e-3 in d = 2 (truncation ~h^4 |F^(5)| ~ 1e-11), and F's rounding
// (~1e-15 relative) gives ~1e-12 / h. A meta-gradient that drops any term of the chain rule (the
// first-order one, or a wrong Hessian-vector product) is off by 1e-2 or more.
constexpr double kMetaGradientTolerance = 1e-5;
constexpr double kStep = 1e-3;

struct Problem {
  gmm::GmmShape shape;
  task::Episode episode;
  Vector model;  // a start near the truth: mixed responsibilities, every component used
};

Problem make_problem(gmm::CovarianceType type) {
  Problem p;
  p.shape = {3, 2, type};
  const gmm::Gmm truth = testing::random_gmm(p.shape, 21, 2.0);
  RandomStream random(22, StreamPurpose::test);
  p.episode.task = 0;
  p.episode.support = gmm::sample(truth, 15, random);
  p.episode.query = gmm::sample(truth, 40, random);
  p.model = truth.pack();
  for (Index i = 0; i < p.model.size(); ++i) p.model[i] += 0.3 * random.normal();
  return p;
}

// The task's contribution: [meta-gradient | F].
std::vector<double> contribution(Maml& maml, const Vector& meta, const task::Episode& e) {
  std::vector<double> out(static_cast<std::size_t>(maml.contribution_size()));
  maml.contribute(meta, e, out);
  return out;
}

Vector numeric_meta_gradient(Maml& maml, const Vector& meta, const task::Episode& e) {
  auto f = [&](Index i, double offset) {
    Vector moved = meta;
    moved[i] += offset;
    return contribution(maml, moved, e).back();
  };
  Vector numeric(meta.size());
  for (Index i = 0; i < meta.size(); ++i)
    numeric[i] = testing::central_difference([&](double offset) { return f(i, offset); }, kStep);
  return numeric;
}

Vector analytic_meta_gradient(Maml& maml, const Vector& meta, const task::Episode& e) {
  const auto out = contribution(maml, meta, e);
  return Eigen::Map<const Vector>(out.data(), meta.size());
}

Vector meta_parameters(const Maml& maml, const Vector& model) {
  Vector meta(model.size() + maml.extra_meta_parameters());
  meta << model, maml.initial_extra_parameters();
  // Unequal step sizes, so that a mix-up of blocks or parameters shows.
  for (Index i = model.size(); i < meta.size(); ++i) meta[i] += 0.1 * static_cast<double>(i % 3);
  return meta;
}

class MamlGradientTest : public ::testing::TestWithParam<std::tuple<gmm::CovarianceType, StepSizeLearning>> {};

TEST_P(MamlGradientTest, SecondOrderMatchesCentralDifferencesOfTheMetaObjective) {
  const auto [type, learning] = GetParam();
  const Problem p = make_problem(type);
  for (int m = 1; m <= 5; ++m) {
    InnerOptions inner;
    inner.steps = m;
    inner.learning_rate = 0.05;
    Maml maml(p.shape, inner, MamlOrder::second, learning);
    const Vector meta = meta_parameters(maml, p.model);
    const Vector numeric = numeric_meta_gradient(maml, meta, p.episode);
    const double error = relative_difference(analytic_meta_gradient(maml, meta, p.episode), numeric);
    std::cout << "[ maml ] " << gmm::to_string(type) << " step sizes " << to_string(learning) << " m=" << m
              << ": relative error " << error << "\n";
    EXPECT_LE(error, kMetaGradientTolerance) << "m = " << m;
    if (learning != StepSizeLearning::none) {
      // The step sizes' part on its own: far smaller than theta's, it must not hide in its scale.
      const Index n = maml.extra_meta_parameters();
      const Vector analytic = analytic_meta_gradient(maml, meta, p.episode);
      EXPECT_LE(relative_difference(analytic.tail(n), numeric.tail(n)), kMetaGradientTolerance) << "m = " << m;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllCovarianceTypes, MamlGradientTest,
    ::testing::Combine(::testing::Values(gmm::CovarianceType::diag, gmm::CovarianceType::spherical, gmm::CovarianceType::full),
                       ::testing::Values(StepSizeLearning::none, StepSizeLearning::block, StepSizeLearning::parameter)),
    [](const auto& info) { return gmm::to_string(std::get<0>(info.param)) + "_" + to_string(std::get<1>(info.param)); });

TEST(Maml, FirstOrderIsTheQueryGradientAtTheAdaptedParameters) {
  const Problem p = make_problem(gmm::CovarianceType::diag);
  InnerOptions inner;
  inner.steps = 3;
  Maml fomaml(p.shape, inner, MamlOrder::first, StepSizeLearning::none);
  InnerLoop loop(p.shape, inner);
  Vector adapted = p.model;
  loop.adapt(adapted, p.episode.support);
  gmm::Evaluator evaluator;
  Vector query_gradient;
  const double loss = gmm::loss_and_gradient(gmm::Gmm::unpack(p.shape, adapted), p.episode.query, evaluator, query_gradient);
  const auto out = contribution(fomaml, p.model, p.episode);
  EXPECT_EQ(Eigen::Map<const Vector>(out.data(), p.model.size()), query_gradient);
  EXPECT_EQ(out.back(), loss);
  // ... which is not the exact meta-gradient once the support's curvature matters.
  Maml maml(p.shape, inner, MamlOrder::second, StepSizeLearning::none);
  EXPECT_GT(relative_difference(query_gradient, analytic_meta_gradient(maml, p.model, p.episode)), 1e-3);
}

TEST(Maml, FirstOrderWorksWithEveryInnerLoop) {
  const Problem p = make_problem(gmm::CovarianceType::diag);
  for (InnerMethod method : {InnerMethod::adam, InnerMethod::em}) {
    InnerOptions inner;
    inner.method = method;
    Maml fomaml(p.shape, inner, MamlOrder::first, StepSizeLearning::none);
    InnerLoop loop(p.shape, inner);
    Vector adapted = p.model;
    loop.adapt(adapted, p.episode.support);
    EXPECT_DOUBLE_EQ(fomaml.adapted_log_likelihood(p.model, p.episode), loop.mean_log_likelihood(adapted, p.episode.query));
  }
}

TEST(Maml, RefusesWhatItCannotDifferentiate) {
  const gmm::GmmShape shape{2, 2, gmm::CovarianceType::diag};
  InnerOptions em;
  em.method = InnerMethod::em;
  EXPECT_THROW(Maml(shape, em, MamlOrder::second, StepSizeLearning::none), InputError);
  EXPECT_THROW(Maml(shape, em, MamlOrder::first, StepSizeLearning::block), InputError);
  EXPECT_THROW(parse_step_size_learning("all", "--meta-sgd"), InputError);
}

TEST(Maml, CombineAveragesTheTasksContributions) {
  const Problem p = make_problem(gmm::CovarianceType::spherical);
  InnerOptions inner;
  Maml maml(p.shape, inner, MamlOrder::second, StepSizeLearning::block);
  const Vector meta = meta_parameters(maml, p.model);
  auto a = contribution(maml, meta, p.episode);
  task::Episode other = p.episode;
  other.support = p.episode.query.topRows(20);
  const auto b = contribution(maml, meta, other);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  Vector gradient;
  const double loss = maml.combine(meta, a, 2, gradient);
  EXPECT_EQ(gradient.size(), meta.size());
  EXPECT_DOUBLE_EQ(loss, a.back() / 2.0);
  EXPECT_DOUBLE_EQ(gradient[meta.size() - 1], a[meta.size() - 1] / 2.0);
}

// adapted_model (what metagmm fit --init CHECKPOINT uses) is the adaptation training scores:
// the same bits as adapted_log_likelihood's adapted parameters, learned step sizes included.
TEST(AdaptedModel, IsTheAdaptationTrainingScores) {
  const Problem p = make_problem(gmm::CovarianceType::diag);
  InnerOptions inner;
  inner.learning_rate = 0.05;
  gmm::Evaluator evaluator;
  auto query_loglik = [&](const Vector& model) {
    return evaluator.mean_log_likelihood(gmm::Gmm::unpack(p.shape, model), p.episode.query);
  };
  Maml maml(p.shape, inner, MamlOrder::second, StepSizeLearning::block);
  const Vector meta = meta_parameters(maml, p.model);
  const Vector adapted = maml.adapted_model(meta, p.episode.support);
  EXPECT_EQ(query_loglik(adapted), maml.adapted_log_likelihood(meta, p.episode));
  // The learned step sizes are used: the same start with --inner-lr everywhere lands elsewhere.
  Vector plain = meta;
  plain.tail(maml.extra_meta_parameters()).setConstant(std::log(inner.learning_rate));
  EXPECT_NE(adapted, maml.adapted_model(plain, p.episode.support));
  inner.method = InnerMethod::em;
  Reptile reptile(p.shape, inner, ReptileWeighting::uniform);
  const Vector em_adapted = reptile.adapted_model(p.model, p.episode.support);
  EXPECT_EQ(query_loglik(em_adapted), reptile.adapted_log_likelihood(p.model, p.episode));
  EXPECT_NE(em_adapted, p.model);
  // Only mixture algorithms adapt a mixture: ProtoNet is not one (the type says so, no call throws).
  ProtoNet protonet(EncoderShape{2, {3}}, {});
  EXPECT_EQ(dynamic_cast<MixtureAlgorithm*>(static_cast<Algorithm*>(&protonet)), nullptr);
  EXPECT_EQ(reptile.adaptation_steps(), inner.steps);
  EXPECT_TRUE(reptile.adapts_by_em());
}

// The path evaluation follows is the adaptation training scores: after the trained number of
// steps it is bit for bit adapted_model, and asking for more steps extends it without changing it.
TEST(AdaptationPath, ExtendsTheTrainedAdaptation) {
  const Problem p = make_problem(gmm::CovarianceType::diag);
  InnerOptions inner;
  inner.learning_rate = 0.05;
  inner.steps = 3;
  auto check = [&](MixtureAlgorithm& algorithm, const Vector& meta) {
    SCOPED_TRACE(algorithm.name());
    std::vector<Vector> trained, longer;
    algorithm.adaptation_path(meta, p.episode.support, inner.steps, trained);
    algorithm.adaptation_path(meta, p.episode.support, inner.steps + 4, longer);
    ASSERT_EQ(trained.size(), static_cast<std::size_t>(inner.steps) + 1);
    ASSERT_EQ(longer.size(), static_cast<std::size_t>(inner.steps) + 5);
    EXPECT_EQ(trained.front(), meta.head(p.model.size()));
    EXPECT_EQ(trained.back(), algorithm.adapted_model(meta, p.episode.support));
    for (std::size_t j = 0; j < trained.size(); ++j) EXPECT_EQ(trained[j], longer[j]) << "step " << j;
    EXPECT_NE(longer.back(), trained.back());
  };
  Maml maml(p.shape, inner, MamlOrder::second, StepSizeLearning::block);
  Vector meta = meta_parameters(maml, p.model);
  meta.tail(maml.extra_meta_parameters()) << -3.0, -2.5, -3.5;  // learned step sizes differ per block
  check(maml, meta);
  for (const InnerMethod method : {InnerMethod::sgd, InnerMethod::adam, InnerMethod::em, InnerMethod::map}) {
    inner.method = method;
    Reptile reptile(p.shape, inner, ReptileWeighting::uniform);
    SCOPED_TRACE(to_string(method));
    check(reptile, p.model);
    Maml fomaml(p.shape, inner, MamlOrder::first, StepSizeLearning::none);
    check(fomaml, p.model);
  }
  // Step j + 1 of the gradient path is one step of the learned step sizes from step j.
  std::vector<Vector> path;
  maml.adaptation_path(meta, p.episode.support, 2, path);
  Vector gradient;
  gmm::Evaluator evaluator;
  gmm::loss_and_gradient(gmm::Gmm::unpack(p.shape, path[1]), p.episode.support, evaluator, gradient);
  Vector alpha(p.model.size());
  const Index K = p.shape.components, means = K * p.shape.dim;
  alpha.head(K).setConstant(std::exp(-3.0));
  alpha.segment(K, means).setConstant(std::exp(-2.5));
  alpha.tail(p.model.size() - K - means).setConstant(std::exp(-3.5));
  EXPECT_LT(testing::relative_difference(path[2], Vector(path[1] - alpha.cwiseProduct(gradient))), 1e-15);
}

}  // namespace
}  // namespace metagmm::meta
