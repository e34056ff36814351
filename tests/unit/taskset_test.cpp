#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/sample.hpp"
#include "metagmm/h5/file.hpp"
#include "metagmm/task/taskset.hpp"
#include "support.hpp"

namespace metagmm::task {
namespace {

using metagmm::testing::fixture;
using metagmm::testing::random_gmm;
using metagmm::testing::temp_file;

TEST(TaskSet, ReadsAFileWrittenByH5py) {
  const TaskSetReader reader(fixture("h5py_taskset.h5"));
  ASSERT_EQ(reader.task_count(), 5);
  ASSERT_EQ(reader.dim(), 3);
  EXPECT_EQ(reader.info().generator, "h5py fixture");
  // Task t has 3 + t points; value (row r, column j) of the file is r + j / 10.
  Index row = 0;
  for (Index t = 0; t < 5; ++t) {
    const RowMatrix points = reader.points(t);
    ASSERT_EQ(points.rows(), 3 + t);
    for (Index n = 0; n < points.rows(); ++n, ++row)
      for (Index j = 0; j < 3; ++j) EXPECT_DOUBLE_EQ(points(n, j), static_cast<double>(row) + static_cast<double>(j) / 10.0);
    const IntVector labels = reader.labels(t);
    for (Index n = 0; n < labels.size(); ++n) EXPECT_EQ(labels[n], (reader.offsets()[t] + n) % 3);
    const gmm::GmmMoments truth = gmm::to_moments(reader.truth(t));
    EXPECT_DOUBLE_EQ(truth.means(0, 2), static_cast<double>(3 * t + 2));
    EXPECT_NEAR(truth.variances(0, 1), static_cast<double>(1 + 3 * t + 1), 1e-12);
  }
  EXPECT_EQ(reader.split(2), Split::validation);
  EXPECT_EQ(reader.split(3), Split::test);
  EXPECT_EQ(reader.tasks_in(Split::train), (std::vector<Index>{0, 1, 4}));
}

TEST(TaskSet, RoundTripsPointsLabelsAndTruthOfEveryCovarianceType) {
  for (auto type : {gmm::CovarianceType::diag, gmm::CovarianceType::spherical, gmm::CovarianceType::full}) {
    const std::string path = temp_file("round_trip_" + gmm::to_string(type) + ".h5");
    std::vector<TaskTruth> truths;
    std::vector<RowMatrix> points;
    std::vector<IntVector> labels;
    {
      TaskSetWriter writer(path, TaskSetHeader{3, "test", "a = 1\n", true, type, std::nullopt});
      for (Index t = 0; t < 7; ++t) {
        TaskTruth truth{random_gmm({1 + t % 3, 3, type}, t), std::vector<std::int32_t>(1 + t % 3, static_cast<std::int32_t>(t))};
        RandomStream random(t, StreamPurpose::test);
        IntVector l;
        points.push_back(gmm::sample(truth.model, 10 + t, random, &l));
        labels.push_back(l);
        writer.add_task(points.back(), &labels.back(), &truth);
        truths.push_back(std::move(truth));
      }
      EXPECT_FALSE(std::filesystem::exists(path)) << "published before finish()";
      writer.finish(std::vector<std::int8_t>{0, 0, 1, 2, 0, 1, 2});
    }
    const TaskSetReader reader(path);
    ASSERT_EQ(reader.task_count(), 7);
    EXPECT_TRUE(reader.info().truth);
    for (Index t = 6; t >= 0; --t) {  // any order: each read is its own hyperslab
      EXPECT_EQ(reader.points(t), points[t]);
      EXPECT_EQ(reader.labels(t), labels[t]);
      EXPECT_LT(metagmm::testing::relative_difference(reader.truth(t).pack(), metagmm::testing::canonical_parameters(truths[t].model)), 1e-12);
    }
  }
}

TEST(TaskSet, UnfinishedWriterPublishesNothing) {
  const std::string path = temp_file("unfinished.h5");
  {
    TaskSetWriter writer(path, TaskSetHeader{2, "test", "", false, std::nullopt, std::nullopt});
    writer.add_task(RowMatrix::Ones(4, 2), nullptr, nullptr);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(path).parent_path())) {
    EXPECT_EQ(entry.path().filename().string().find(".unfinished.h5.tmp"), std::string::npos) << "temporary left behind";
  }
}

// A minimal valid task set written with the raw h5 layer, then spoiled by `spoil`.
struct RawTaskSet {
  std::string format = kTaskSetFormat;
  std::int64_t version = kTaskSetVersion;
  std::int64_t dim = 2;
  std::vector<double> points{0, 0, 1, 1, 2, 2, 3, 3};
  h5::Dims point_dims{4, 2};
  std::vector<std::int64_t> offsets{0, 2, 4};
  std::vector<std::int8_t> splits{0, 1};
  bool points_as_int = false;
};

std::string write_raw(const std::string& name, const std::function<void(RawTaskSet&)>& spoil) {
  RawTaskSet raw;
  spoil(raw);
  const std::string path = temp_file(name);
  h5::File file = h5::File::create(path);
  file.set_attribute("/", "format", raw.format);
  file.set_attribute("/", "version", raw.version);
  file.set_attribute("/", "dim", raw.dim);
  if (raw.points_as_int) {
    std::vector<std::int32_t> ints(raw.points.begin(), raw.points.end());
    file.write<std::int32_t>("/points", raw.point_dims, ints.data());
  } else {
    file.write<double>("/points", raw.point_dims, raw.points.data());
  }
  file.write<std::int64_t>("/task_offsets", {raw.offsets.size()}, raw.offsets.data());
  file.write<std::int8_t>("/task_split", {raw.splits.size()}, raw.splits.data());
  file.close();
  return path;
}

void expect_rejected(const std::string& path, const std::string& phrase) {
  try {
    TaskSetReader reader(path);
    FAIL() << "accepted " << path;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << "message does not name the file: " << e.what();
  }
}

TEST(TaskSet, RejectsEveryKindOfBadFileWithAClearMessage) {
  EXPECT_NO_THROW(TaskSetReader(write_raw("valid.h5", [](RawTaskSet&) {})));
  expect_rejected(write_raw("format.h5", [](RawTaskSet& r) { r.format = "something.else"; }), "expected 'metagmm.taskset'");
  expect_rejected(write_raw("version.h5", [](RawTaskSet& r) { r.version = 99; }), "version 99 is not supported");
  expect_rejected(write_raw("dtype.h5", [](RawTaskSet& r) { r.points_as_int = true; }), "expected float64 of rank 2, found int32");
  expect_rejected(write_raw("rank.h5", [](RawTaskSet& r) { r.point_dims = {8}; }), "expected float64 of rank 2");
  expect_rejected(write_raw("dim.h5", [](RawTaskSet& r) { r.dim = 3; }), "but attribute dim is 3");
  expect_rejected(write_raw("start.h5", [](RawTaskSet& r) { r.offsets = {1, 2, 4}; }), "must start at 0");
  expect_rejected(write_raw("monotonic.h5", [](RawTaskSet& r) { r.offsets = {0, 3, 2}; r.splits = {0, 0}; }), "not increasing");
  expect_rejected(write_raw("past_end.h5", [](RawTaskSet& r) { r.offsets = {0, 2, 9}; }), "past the end");
  expect_rejected(write_raw("short.h5", [](RawTaskSet& r) { r.offsets = {0, 2, 3}; }), "ends at 3");
  expect_rejected(write_raw("splits.h5", [](RawTaskSet& r) { r.splits = {0, 5}; }), "has split 5");
  expect_rejected(write_raw("split_count.h5", [](RawTaskSet& r) { r.splits = {0}; }), "1 values for 2 tasks");
}

TEST(TaskSet, NanOrInfIsReportedForTheTaskThatHasIt) {
  const std::string path = write_raw("nan.h5", [](RawTaskSet& r) { r.points[5] = std::numeric_limits<double>::infinity(); });
  const TaskSetReader reader(path);
  EXPECT_NO_THROW(reader.points(0));
  try {
    reader.points(1);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("task 1: point 0 (row 2 of /points) has a NaN or Inf"), std::string::npos) << e.what();
  }
  EXPECT_THROW(reader.points(2), InputError);  // no such task
}

}  // namespace
}  // namespace metagmm::task
