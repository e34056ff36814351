// The algorithm registry: built-in entries, refusals, and an algorithm registered from outside
// src/ (tests/toy) that trains, checkpoints, resumes and is evaluated through the registry alone;
// and checkpoints of format version 3 (tests/fixtures/checkpoints-v3) read, resumed and adapted
// from exactly as the build that wrote them did.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "metagmm/comm/communicator.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/eval/methods.hpp"
#include "metagmm/eval/runner.hpp"
#include "metagmm/gmm/kernels.hpp"
#include "metagmm/meta/registry.hpp"
#include "metagmm/task/sampler.hpp"
#include "metagmm/train/checkpoint.hpp"
#include "metagmm/train/trainer.hpp"
#include "support.hpp"
#include "toy_algorithm.hpp"

namespace metagmm {
namespace {

namespace fs = std::filesystem;

TEST(Registry, BuiltInAlgorithmsAndRefusals) {
  EXPECT_EQ(meta::algorithm_entry("reptile").model, meta::ModelKind::mixture);
  EXPECT_EQ(meta::algorithm_entry("protonet").model, meta::ModelKind::encoder);
  EXPECT_THROW(meta::algorithm_entry("no-such"), SettingError);
  EXPECT_THROW(meta::register_algorithm(meta::algorithm_entry("maml")), InputError);  // the name is taken
  // A setting another entry declares with another default would make one option mean two things.
  meta::AlgorithmEntry clash{"clash", "", meta::ModelKind::mixture, {{"inner-steps", std::int64_t{99}, "", {}}}, {}, {}};
  EXPECT_THROW(meta::register_algorithm(clash), InputError);
  // Missing settings take their defaults; a wrong type or value is a SettingError naming it.
  const gmm::GmmShape shape{2, 2, gmm::CovarianceType::diag};
  const auto reptile = meta::make_algorithm("reptile", shape, meta::Settings{});
  EXPECT_EQ(reptile->settings().integer("inner-steps"), 5);
  meta::Settings wrong;
  wrong.set("inner-steps", 2.5);
  EXPECT_THROW(meta::make_algorithm("reptile", shape, wrong), SettingError);
  meta::Settings choice;
  choice.set("weighting", std::string("heaviest"));
  try {
    meta::make_algorithm("reptile", shape, choice);
    FAIL() << "an unknown choice was taken";
  } catch (const SettingError& error) {
    EXPECT_EQ(error.setting(), "weighting");
  }
  // The kind of model must be the algorithm's.
  EXPECT_THROW(meta::make_algorithm("protonet", shape, meta::Settings{}), InputError);
  // Settings convert to and from their stored form unchanged.
  meta::Settings map;
  map.set("inner", std::string("map"));
  map.set("relevance", std::string("4:8:16"));
  const auto maml = meta::make_algorithm("maml", shape, map);
  EXPECT_EQ(maml->settings().text("relevance"), "4:8:16");
  EXPECT_EQ(maml->extra_parameters().front().name, "log_relevance");
  EXPECT_EQ(meta::make_algorithm("maml", shape, maml->settings())->settings(), maml->settings());
}

struct ToyRun {
  std::unique_ptr<task::TaskSource> source;
  gmm::GmmShape shape{3, 2, gmm::CovarianceType::diag};
  train::TrainOptions options;
  std::unique_ptr<comm::Communicator> comm = comm::make_serial_communicator();
  explicit ToyRun(const fs::path& run_dir, std::int64_t steps) {
    task::GeneratorOptions family;
    family.tasks = 60;
    family.points_min = 30;
    family.points_max = 40;
    family.seed = 4;
    source = task::make_generated_source(family, 1 << 24);
    options.steps = steps;
    options.meta_batch = 4;
    options.validate_every = 0;
    options.checkpoint_every = 3;
    options.outer.learning_rate = 0.01;
    options.run_dir = run_dir;
    fs::remove_all(run_dir);
    fs::create_directories(run_dir);
  }
  // Trains from the start, or from `resume`, with the algorithm the registry makes.
  train::TrainResult train(meta::Algorithm& algorithm, const train::Checkpoint* resume) {
    task::Sampler sampler(*source, {10, 0}, options.seed);
    std::ostringstream log;
    train::Trainer trainer(options, shape, sampler, algorithm, *comm, log, false);
    return trainer.run(resume ? Vector() : train::initial_meta_parameters(*source, shape, options.seed), resume);
  }
};

TEST(Registry, AnAlgorithmRegisteredFromOutsideTrainsResumesAndIsEvaluated) {
  toy::register_toy_algorithm();
  meta::Settings settings;
  settings.set("toy-steps", std::int64_t{3});
  const fs::path dir = fs::path(testing::temp_file("x")).parent_path();

  ToyRun straight(dir / "straight", 6);
  const auto algorithm = meta::make_algorithm("toy-fomaml", straight.shape, settings);
  const train::TrainResult whole = straight.train(*algorithm, nullptr);

  ToyRun stopped(dir / "stopped", 3);
  stopped.train(*algorithm, nullptr);
  const train::Checkpoint saved = train::read_checkpoint(dir / "stopped" / train::checkpoint_file_name(3));
  EXPECT_EQ(saved.algorithm, "toy-fomaml");
  EXPECT_EQ(saved.settings.integer("toy-steps"), 3);
  EXPECT_EQ(saved.settings.real("toy-rate"), 0.05);
  ASSERT_EQ(saved.extra.count("log_unused_scale"), 1u);
  EXPECT_EQ(saved.extra.at("log_unused_scale"), Vector::Zero(1));
  // Resumed with the algorithm the checkpoint names, made from its stored settings.
  const auto restored = train::checkpoint_algorithm(saved, "checkpoint 3");
  ToyRun resumed(dir / "resumed", 6);
  const train::TrainResult rest = resumed.train(*restored, &saved);
  EXPECT_EQ(rest.theta, whole.theta);  // bit for bit: the stop and resume left no trace
  EXPECT_NE(whole.theta.head(straight.shape.parameter_count()), saved.theta);  // and training moved it

  // Evaluated by its own adaptation and EM, on the held-out tasks.
  const train::Checkpoint last = train::read_checkpoint(rest.checkpoint);
  auto mixture = train::checkpoint_mixture_algorithm(last, "last");
  Vector meta = train::meta_parameters(last, *mixture);
  std::vector<std::unique_ptr<eval::Method>> methods;
  methods.push_back(eval::meta_learned_steps("toy", std::move(mixture), meta, straight.shape));
  methods.push_back(eval::em_from_model("toy+em", gmm::Gmm::unpack(straight.shape, last.theta), 1e-6));
  task::Sampler sampler(*resumed.source, {10, 0}, 0);
  eval::RunOptions run;
  run.steps = 3;
  run.converge_steps = 3;
  const eval::Results results = eval::evaluate(methods, *resumed.source, sampler, task::Split::test, run, *resumed.comm);
  ASSERT_EQ(results.method_count(), 2);
  ASSERT_GT(results.task_count(), 0);
  for (Index t = 0; t < results.task_count(); ++t) {
    // Step 0 of both is the meta-learned start; three gradient steps on the support raise its fit.
    EXPECT_EQ(results.query[results.curve(0, t)], results.query[results.curve(1, t)]);
    EXPECT_GT(results.support[results.curve(0, t) + 3], results.support[results.curve(0, t)]);
  }
}

double expected_log_likelihood(const std::string& name) {
  std::ifstream file(testing::fixture("checkpoints-v3/expected.json"));
  std::stringstream text;
  text << file.rdbuf();
  const std::string all = text.str(), key = "\"" + name + "\": ";
  const auto at = all.find(key);
  if (at == std::string::npos) throw std::runtime_error("expected.json has no " + name);
  return std::stod(all.substr(at + key.size()));
}

TEST(LegacyCheckpoints, VersionThreeIsReadWithTypedSettingsAndNamedBlocks) {
  const train::Checkpoint map = train::read_checkpoint(testing::fixture("checkpoints-v3/map.h5"));
  EXPECT_EQ(map.format_version, 3);
  EXPECT_EQ(map.settings.text("inner"), "map");
  EXPECT_EQ(map.settings.text("relevance"), "4:8:16");
  EXPECT_EQ(map.settings.integer("inner-steps"), 2);
  ASSERT_EQ(map.extra.count("log_relevance"), 1u);
  EXPECT_EQ(map.extra.at("log_relevance").size(), 3);
  const train::Checkpoint metasgd = train::read_checkpoint(testing::fixture("checkpoints-v3/metasgd.h5"));
  EXPECT_EQ(metasgd.settings.text("meta-sgd"), "block");
  EXPECT_EQ(metasgd.extra.count("log_step_sizes"), 1u);
  const train::Checkpoint protonet = train::read_checkpoint(testing::fixture("checkpoints-v3/protonet.h5"));
  EXPECT_EQ(protonet.settings.integer("refine-steps"), 0);
  EXPECT_EQ(protonet.settings.text("distractor-cluster"), "false");
  EXPECT_TRUE(protonet.extra.empty());
  EXPECT_NO_THROW(train::checkpoint_algorithm(protonet, "protonet.h5"));

  // Each mixture checkpoint's own adaptation of task 20 is the writing build's, bit for bit (in
  // the build configuration that wrote them, at the kernel level that wrote them: avx2, as
  // their /isa attribute says; an AVX-512 processor's default level rounds the sums otherwise).
  const metagmm::IsaLevel previous = gmm::kernels().level;
  gmm::use_kernels(metagmm::IsaLevel::avx2);
  struct Restore {
    metagmm::IsaLevel level;
    ~Restore() { gmm::use_kernels(level); }
  } restore{previous};
  const auto source = task::open_task_file(testing::fixture("checkpoints-v3/tasks.h5"), 1 << 20);
  for (const std::string name : {"reptile", "metasgd", "map"}) {
    SCOPED_TRACE(name);
    const train::Checkpoint c = train::read_checkpoint(testing::fixture("checkpoints-v3/" + name + ".h5"));
    const auto algorithm = train::checkpoint_mixture_algorithm(c, name);
    const RowMatrix& points = source->points(20);
    const Vector adapted = algorithm->adapted_model(train::meta_parameters(c, *algorithm), points);
    gmm::Evaluator evaluator;
    const double found = evaluator.mean_log_likelihood(gmm::Gmm::unpack(c.shape, adapted), points);
    const double expected = expected_log_likelihood(name);
    if (METAGMM_EXACT_FIXTURES) {
      EXPECT_EQ(found, expected);
    } else {
      // An instrumented or native build may round the steps' sums otherwise: a few ulps per step.
      constexpr double kOtherBuildTolerance = 1e-12;
      EXPECT_NEAR(found, expected, kOtherBuildTolerance * std::abs(expected));
    }
  }
}

TEST(LegacyCheckpoints, AVersionThreeRunResumesAsThisBuildWouldHaveRunIt) {
  // The fixture's reptile run (make.sh): 3 steps of --meta-batch 4 --support 10 --inner em
  // --inner-steps 2, seed 0. Resumed to 6 steps, it equals this build's straight 6 steps.
  const fs::path dir = fs::path(testing::temp_file("x")).parent_path();
  const train::Checkpoint legacy = train::read_checkpoint(testing::fixture("checkpoints-v3/reptile.h5"));
  const auto source = task::open_task_file(testing::fixture("checkpoints-v3/tasks.h5"), 1 << 20);
  auto run = [&](const std::string& name, const train::Checkpoint* resume) {
    train::TrainOptions options;
    options.steps = 6;
    options.meta_batch = 4;
    options.validate_every = 0;
    options.checkpoint_every = 3;
    options.run_dir = dir / name;
    fs::remove_all(options.run_dir);
    fs::create_directories(options.run_dir);
    const auto algorithm = train::checkpoint_algorithm(legacy, "reptile.h5");
    task::Sampler sampler(*source, {10, 0}, 0);
    auto comm = comm::make_serial_communicator();
    std::ostringstream log;
    train::Trainer trainer(options, legacy.shape, sampler, *algorithm, *comm, log, false);
    return trainer.run(resume ? Vector() : train::initial_meta_parameters(*source, legacy.shape, 0), resume).theta;
  };
  EXPECT_EQ(run("resumed", &legacy), run("straight", nullptr));
}

}  // namespace
}  // namespace metagmm
