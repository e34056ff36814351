#include <gtest/gtest.h>

#include <hdf5.h>

#include <fstream>

#include "metagmm/core/error.hpp"
#include "metagmm/h5/file.hpp"
#include "support.hpp"

namespace metagmm::h5 {
namespace {

using metagmm::testing::temp_file;

TEST(H5, HandleIsMoveOnlyAndReleasesOnce) {
  static_assert(!std::is_copy_constructible_v<Handle>);
  static_assert(std::is_nothrow_move_constructible_v<Handle>);
  Handle first(H5Screate(H5S_SCALAR));
  const Id id = first.get();
  ASSERT_GT(H5Iis_valid(id), 0);
  Handle second(std::move(first));
  EXPECT_FALSE(first.valid());
  EXPECT_EQ(second.get(), id);
  EXPECT_GT(H5Iis_valid(id), 0);
  second = Handle();
  EXPECT_LE(H5Iis_valid(id), 0);

  const std::string path = temp_file("handle.h5");
  {
    File file = File::create(path);
    file.set_attribute("/", "x", std::int64_t{1});
    file.close();
  }
  File reopened = File::open(path);
  EXPECT_EQ(reopened.int_attribute("/", "x"), 1);
}

TEST(H5, TypedWritesReadBackAndExtend) {
  const std::string path = temp_file("typed.h5");
  {
    File file = File::create(path);
    const std::vector<double> values{1, 2, 3, 4, 5, 6};
    file.write<double>("/matrix", {3, 2}, values.data());
    Dataset grow = file.create_dataset<std::int32_t>("/grow", {0}, {.extendible = true});
    const std::vector<std::int32_t> a{1, 2}, b{3};
    grow.append_rows<std::int32_t>(2, a.data());
    grow.append_rows<std::int32_t>(1, b.data());
    file.set_attribute("/", "name", std::string("hello"));
    file.set_attribute("/", "pi", 3.25);
    file.close();
  }
  const File file = File::open(path);
  const Dataset matrix = file.dataset("/matrix", Dtype::float64, 2);
  std::vector<double> row(2);
  matrix.read_rows<double>(1, 1, row.data());
  EXPECT_EQ(row, (std::vector<double>{3, 4}));
  EXPECT_EQ(file.dataset("/grow", Dtype::int32, 1).read_all<std::int32_t>(), (std::vector<std::int32_t>{1, 2, 3}));
  EXPECT_EQ(file.string_attribute("/", "name"), "hello");
  EXPECT_EQ(file.double_attribute("/", "pi"), 3.25);
  EXPECT_FALSE(file.string_attribute("/", "missing").has_value());
  EXPECT_THROW(matrix.read_rows<double>(2, 2, row.data()), InputError);
}

TEST(H5, ErrorsNameTheFileAndObject) {
  const std::string path = temp_file("errors.h5");
  {
    File file = File::create(path);
    const std::vector<std::int32_t> values{1, 2};
    file.write<std::int32_t>("/ints", {2}, values.data());
    file.close();
  }
  const File file = File::open(path);
  try {
    file.dataset("/ints", Dtype::float64, 1);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("/ints: expected float64 of rank 1, found int32"), std::string::npos) << e.what();
  }
  EXPECT_THROW(file.dataset("/ints", Dtype::int32, 2), InputError);
  EXPECT_THROW(file.dataset("/absent", Dtype::int32, 1), InputError);
}

TEST(H5, OpeningMissingOrForeignFilesIsAnInputError) {
  EXPECT_THROW(File::open(temp_file("absent.h5")), InputError);
  const std::string text = temp_file("text.h5");
  std::ofstream(text) << "not hdf5\n";
  try {
    File::open(text);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not an HDF5 file"), std::string::npos);
  }
  EXPECT_FALSE(is_hdf5_file(text));
}

}  // namespace
}  // namespace metagmm::h5
