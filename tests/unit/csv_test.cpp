#include <gtest/gtest.h>

#include <fstream>

#include "metagmm/core/error.hpp"
#include "metagmm/task/csv.hpp"
#include "support.hpp"

namespace metagmm::task {
namespace {

using metagmm::testing::temp_file;

std::string write_text(const std::string& name, const std::string& text) {
  const std::string path = temp_file(name);
  std::ofstream(path) << text;
  return path;
}

TEST(Csv, GroupsRowsByTaskInOrderOfFirstAppearance) {
  const std::string path = write_text("tasks.csv", "x,y,task,label\n1,2,b,0\n3,4,a,1\n5,6,b,1\n7,8,a,-1\n");
  CsvOptions o;
  o.task_column = "task";
  o.label_column = "label";
  const CsvData data = read_csv(path, o);
  EXPECT_EQ(data.point_columns, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(data.task_names, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(data.offsets, (std::vector<std::int64_t>{0, 2, 4}));
  RowMatrix expected(4, 2);
  expected << 1, 2, 5, 6, 3, 4, 7, 8;
  EXPECT_EQ(data.points, expected);
  EXPECT_EQ(data.labels, (IntVector(4) << 0, 1, 1, -1).finished());
}

TEST(Csv, WithoutHeaderColumnsAreNamedByIndex) {
  const std::string path = write_text("plain.csv", "1.5,2e3,7\n-1,+4,8\n");
  CsvOptions o;
  o.label_column = "2";
  const CsvData data = read_csv(path, o);
  EXPECT_EQ(data.point_columns, (std::vector<std::string>{"x0", "x1"}));
  EXPECT_DOUBLE_EQ(data.points(0, 1), 2000.0);
  EXPECT_DOUBLE_EQ(data.points(1, 1), 4.0);
  EXPECT_EQ(data.labels[1], 8);
}

void expect_error(const std::string& text, const CsvOptions& o, const std::string& phrase) {
  const std::string path = write_text("bad.csv", text);
  try {
    read_csv(path, o);
    FAIL() << "accepted: " << text;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos) << e.what();
  }
}

TEST(Csv, ReportsTheLineAndColumnOfEachDefect) {
  expect_error("x,y\n1,2\n3\n", {}, "line 3: expected 2 fields, found 1");
  expect_error("x,y\n1,2\n3,abc\n", {}, "line 3, column y: 'abc' is not a number");
  expect_error("x,y\n1,nan\n", {}, "NaN and Inf are not allowed");
  expect_error("", {}, "the file is empty");
  expect_error("x,y\n", {}, "no data rows");
  CsvOptions label;
  label.label_column = "class";
  expect_error("x,y\n1,2\n", label, "--label-column 'class': no such column");
  label.label_column = "y";
  expect_error("x,y\n1,2.5\n", label, "'2.5' is not an integer");
  EXPECT_THROW(read_csv(temp_file("missing.csv"), {}), InputError);
}

}  // namespace
}  // namespace metagmm::task
