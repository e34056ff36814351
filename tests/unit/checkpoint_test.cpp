// Checkpoints: every field round-trips, the checksum covers every field, damaged files are
// refused, and the run directory's checkpoints are listed and pruned newest first.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "metagmm/train/checkpoint.hpp"
#include "metagmm/core/error.hpp"
#include "support.hpp"

namespace metagmm::train {
namespace {

Checkpoint example(gmm::CovarianceType covariance) {
  Checkpoint c;
  c.algorithm = "reptile";
  c.step = 42;
  c.seed = 0xfedcba9876543210ULL;  // all 64 bits
  c.shape = {3, 2, covariance};
  // Arbitrary values, as training leaves them: not the pack() of a mixture, whose log-diagonal of a
  // full covariance would survive the exp and log of an unpack and pack round trip.
  c.theta = testing::random_gmm(c.shape, 9).pack() + Vector::LinSpaced(c.shape.parameter_count(), 0.1, 0.3);
  c.optimizer = "adam";
  c.optimizer_state.steps = 42;
  c.optimizer_state.first = Vector::LinSpaced(c.theta.size(), -1, 1);
  c.optimizer_state.second = Vector::LinSpaced(c.theta.size(), 0, 2);
  c.config = "algo = reptile\nsteps = 100\n";
  c.settings.set("inner", std::string("em"));
  c.settings.set("inner-steps", std::int64_t{7});
  c.settings.set("inner-lr", 0.1);  // not exact in binary: must come back bit for bit
  for (int s = 1; s <= 42; ++s) c.metrics.append(s, 1.0 / s, s % 10 == 0 ? -2.0 : std::nan(""), 0.1 * s);
  return c;
}

Checkpoint encoder_example() {
  Checkpoint c = example(gmm::CovarianceType::diag);
  c.algorithm = "protonet";
  c.shape = gmm::GmmShape{};  // unused with an encoder, and not stored
  c.encoder = meta::EncoderShape{3, {5, 2}};
  c.theta = Vector::LinSpaced(c.encoder->parameter_count(), -1, 1);
  c.optimizer_state.first = Vector::LinSpaced(c.theta.size(), -1, 1);
  c.optimizer_state.second = Vector::LinSpaced(c.theta.size(), 0, 2);
  return c;
}

void expect_same(const Checkpoint& a, const Checkpoint& b) {
  EXPECT_EQ(a.algorithm, b.algorithm);
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.shape, b.shape);
  EXPECT_EQ(a.encoder, b.encoder);
  EXPECT_EQ(a.theta, b.theta);  // bit for bit
  EXPECT_EQ(a.extra, b.extra);
  EXPECT_EQ(a.settings, b.settings);
  EXPECT_EQ(a.optimizer, b.optimizer);
  EXPECT_EQ(a.optimizer_state, b.optimizer_state);
  EXPECT_EQ(a.config, b.config);
  EXPECT_EQ(a.metrics.step, b.metrics.step);
  EXPECT_EQ(a.metrics.loss, b.metrics.loss);
  ASSERT_EQ(a.metrics.validation.size(), b.metrics.validation.size());
  for (std::size_t i = 0; i < a.metrics.validation.size(); ++i) {
    EXPECT_EQ(std::isnan(a.metrics.validation[i]), std::isnan(b.metrics.validation[i]));
    if (!std::isnan(a.metrics.validation[i])) {
      EXPECT_EQ(a.metrics.validation[i], b.metrics.validation[i]);
    }
  }
}

TEST(Checkpoint, RoundTripsEveryFieldForEveryCovarianceType) {
  for (const auto covariance : {gmm::CovarianceType::diag, gmm::CovarianceType::spherical, gmm::CovarianceType::full}) {
    const auto path = testing::temp_file("c.h5");
    const Checkpoint written = example(covariance);
    write_checkpoint(path, written);
    expect_same(written, read_checkpoint(path));
  }
  // SGD has no moments, and an empty history is allowed.
  Checkpoint sgd = example(gmm::CovarianceType::diag);
  sgd.optimizer = "sgd";
  sgd.optimizer_state = {};
  sgd.metrics = {};
  const auto path = testing::temp_file("sgd.h5");
  write_checkpoint(path, sgd);
  expect_same(sgd, read_checkpoint(path));
  // Meta-SGD: learned step sizes after the model, with Adam moments for all of them.
  Checkpoint learned = example(gmm::CovarianceType::full);
  learned.algorithm = "maml";
  learned.extra["log_step_sizes"] = Vector::LinSpaced(3, -2.5, -1.0);
  const Index all = learned.theta.size() + 3;
  learned.optimizer_state.first = Vector::LinSpaced(all, -1, 1);
  learned.optimizer_state.second = Vector::LinSpaced(all, 0, 2);
  const auto learned_path = testing::temp_file("learned.h5");
  write_checkpoint(learned_path, learned);
  expect_same(learned, read_checkpoint(learned_path));
  // ProtoNet: an encoder's weights instead of a mixture.
  const auto encoder_path = testing::temp_file("encoder.h5");
  const Checkpoint encoder = encoder_example();
  write_checkpoint(encoder_path, encoder);
  expect_same(encoder, read_checkpoint(encoder_path));
  EXPECT_EQ(read_checkpoint(encoder_path).model().describe(), "encoder 3-5-2");
  // The identity start: residual, its skip scale and the input standardisation come back.
  Checkpoint residual = encoder_example();
  residual.encoder->widths = {5, 3};
  residual.encoder->residual = true;
  residual.encoder->skip_scale = 0.5;
  residual.encoder->input_offset = {1.0, -2.0, 0.25};
  residual.encoder->input_scale = {3.0, 1.0, 0.5};
  residual.theta = Vector::LinSpaced(residual.encoder->parameter_count(), -1, 1);
  write_checkpoint(encoder_path, residual);
  expect_same(residual, read_checkpoint(encoder_path));
  Checkpoint shifted = residual;
  shifted.encoder->input_offset[1] = -2.5;
  EXPECT_NE(checksum(shifted), checksum(residual));
}

TEST(Checkpoint, EncoderChecksumCoversItsShape) {
  const Checkpoint base = encoder_example();
  Checkpoint wider = base;
  wider.encoder->widths = {5, 3};
  EXPECT_NE(checksum(wider), checksum(base));
  Checkpoint input = base;
  input.encoder->input = 4;
  EXPECT_NE(checksum(input), checksum(base));
  Checkpoint mixture = base;
  mixture.encoder.reset();
  EXPECT_NE(checksum(mixture), checksum(base));
}

TEST(Checkpoint, ChecksumCoversEveryField) {
  const Checkpoint base = example(gmm::CovarianceType::diag);
  const auto reference = checksum(base);
  std::vector<std::function<void(Checkpoint&)>> changes = {
      [](Checkpoint& c) { c.algorithm = "maml"; },
      [](Checkpoint& c) { c.step += 1; },
      [](Checkpoint& c) { c.seed ^= 1; },
      [](Checkpoint& c) { c.shape.covariance = gmm::CovarianceType::spherical; },
      [](Checkpoint& c) { c.theta[3] = std::nextafter(c.theta[3], 1e9); },
      [](Checkpoint& c) { c.extra["log_step_sizes"] = Vector::Constant(1, -2.0); },
      [](Checkpoint& c) { c.settings.set("inner-steps", std::int64_t{8}); },
      [](Checkpoint& c) { c.settings.set("inner-lr", std::nextafter(0.1, 1.0)); },
      [](Checkpoint& c) { c.settings.set("inner-steps", 7.0); },  // same value, another type
      [](Checkpoint& c) { c.settings.set("weighting", std::string("uniform")); },
      [](Checkpoint& c) { c.optimizer = "sgd"; },
      [](Checkpoint& c) { c.optimizer_state.steps += 1; },
      [](Checkpoint& c) { c.optimizer_state.first[0] += 1e-12; },
      [](Checkpoint& c) { c.optimizer_state.second[1] += 1e-12; },
      [](Checkpoint& c) { c.config += " "; },
      [](Checkpoint& c) { c.metrics.step[0] = 7; },
      [](Checkpoint& c) { c.metrics.loss[3] += 1e-9; },
      [](Checkpoint& c) { c.metrics.validation[9] = 0.0; },
      [](Checkpoint& c) { c.metrics.elapsed[2] += 1.0; },
  };
  for (std::size_t i = 0; i < changes.size(); ++i) {
    Checkpoint changed = base;
    changes[i](changed);
    EXPECT_NE(checksum(changed), reference) << "change " << i;
  }
}

TEST(Checkpoint, DamagedFilesAreRefused) {
  const auto path = testing::temp_file("c.h5");
  write_checkpoint(path, example(gmm::CovarianceType::full));
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto truncated = testing::temp_file("truncated.h5");
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  EXPECT_THROW(read_checkpoint(truncated), InputError);
  const auto text = testing::temp_file("text.h5");
  std::ofstream(text) << "not a checkpoint\n";
  EXPECT_THROW(read_checkpoint(text), InputError);
  EXPECT_THROW(read_checkpoint(testing::temp_file("missing.h5")), InputError);
  // A task set is HDF5 but not a checkpoint.
  EXPECT_THROW(read_checkpoint(testing::fixture("h5py_taskset.h5")), InputError);
}

TEST(Checkpoint, ListsNewestFirstAndPrunes) {
  const auto dir = std::filesystem::path(testing::temp_file("x")).parent_path() / "run";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (const std::int64_t step : {5, 100, 20, 7}) {
    Checkpoint c = example(gmm::CovarianceType::diag);
    c.step = step;
    write_checkpoint(dir / checkpoint_file_name(step), c);
  }
  std::ofstream(dir / ".checkpoint-000000000200.h5.tmp.1") << "partial";
  std::ofstream(dir / "metrics.jsonl") << "";
  auto listed = list_checkpoints(dir);
  ASSERT_EQ(listed.size(), 4u);
  EXPECT_EQ(listed[0].filename(), checkpoint_file_name(100));
  EXPECT_EQ(listed[3].filename(), checkpoint_file_name(5));
  prune_checkpoints(dir, 2);
  listed = list_checkpoints(dir);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[1].filename(), checkpoint_file_name(20));
  // The newest readable one, skipping a damaged newer file.
  std::ofstream(dir / checkpoint_file_name(300)) << "garbage";
  std::vector<std::string> skipped;
  const auto newest = newest_valid_checkpoint(dir, [&](const auto& path, const std::string&) {
    skipped.push_back(path.filename().string());
  });
  ASSERT_TRUE(newest);
  EXPECT_EQ(newest->filename(), checkpoint_file_name(100));
  EXPECT_EQ(skipped, std::vector<std::string>{checkpoint_file_name(300)});
}

}  // namespace
}  // namespace metagmm::train
