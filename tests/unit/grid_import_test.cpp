// import --netcdf on grids written here through libnetcdf: classic and netCDF-4 files give the
// same task set, missing cells are skipped, boxes and blocks are as the coordinates say.
#include <gtest/gtest.h>
#include <netcdf.h>

#include "metagmm/core/error.hpp"
#include "metagmm/task/grid_import.hpp"
#include "support.hpp"

namespace metagmm::task {
namespace {

using metagmm::testing::temp_file;

constexpr float kFill = -1e10f;
constexpr std::size_t kDepths = 2, kRows = 4, kCols = 6;

void ok(int status) { ASSERT_EQ(status, NC_NOERR) << nc_strerror(status); }

// A grid over depth (0, 100 m), latitude 0.5..3.5 and longitude 0.5..5.5, variables A and B with
// A(z, y, x) = 100 z + 10 y + x and B = -A, and the cell (z 1, y 0, x 0) missing in B.
std::string write_grid(const std::string& name, int format) {
  const std::string path = temp_file(name);
  int file = -1, z = -1, y = -1, x = -1;
  ok(nc_create(path.c_str(), NC_CLOBBER | format, &file));
  ok(nc_def_dim(file, "depth", kDepths, &z));
  ok(nc_def_dim(file, "lat", kRows, &y));
  ok(nc_def_dim(file, "lon", kCols, &x));
  int vz = -1, vy = -1, vx = -1, va = -1, vb = -1;
  ok(nc_def_var(file, "depth", NC_DOUBLE, 1, &z, &vz));
  ok(nc_def_var(file, "lat", NC_DOUBLE, 1, &y, &vy));
  ok(nc_def_var(file, "lon", NC_DOUBLE, 1, &x, &vx));
  const int dims[3] = {z, y, x};
  ok(nc_def_var(file, "A", NC_FLOAT, 3, dims, &va));
  ok(nc_def_var(file, "B", NC_FLOAT, 3, dims, &vb));
  ok(nc_put_att_float(file, vb, "_FillValue", NC_FLOAT, 1, &kFill));
  ok(nc_enddef(file));
  const double depths[kDepths] = {0.0, 100.0}, lats[kRows] = {0.5, 1.5, 2.5, 3.5},
               lons[kCols] = {0.5, 1.5, 2.5, 3.5, 4.5, 5.5};
  ok(nc_put_var_double(file, vz, depths));
  ok(nc_put_var_double(file, vy, lats));
  ok(nc_put_var_double(file, vx, lons));
  std::vector<float> a(kDepths * kRows * kCols), b(a.size());
  for (std::size_t k = 0; k < kDepths; ++k)
    for (std::size_t i = 0; i < kRows; ++i)
      for (std::size_t j = 0; j < kCols; ++j) {
        const std::size_t at = (k * kRows + i) * kCols + j;
        a[at] = static_cast<float>(100 * k + 10 * i + j);
        b[at] = -a[at];
      }
  b[(1 * kRows + 0) * kCols + 0] = kFill;
  ok(nc_put_var_float(file, va, a.data()));
  ok(nc_put_var_float(file, vb, b.data()));
  ok(nc_close(file));
  return path;
}

GridImportOptions two_by_two() {
  GridImportOptions o;
  o.variables = {"A", "B"};
  o.box_size = 2.0;   // boxes of 2 x 2 cells: 2 x 3 boxes
  o.block_size = 4.0; // blocks of 2 x 2 boxes: lon 0-4 and 4-8 in one latitude band
  o.min_points = 1;
  o.split = SplitFractions{0.5, 0.5, 0.0};
  o.standardise = false;
  return o;
}

TEST(GridImport, ClassicAndNetcdf4GiveTheSameTasks) {
  const std::string classic = write_grid("classic.nc", 0), nc4 = write_grid("grid4.nc", NC_NETCDF4);
  const GridImportOptions o = two_by_two();
  const std::string out_classic = temp_file("classic.h5"), out_nc4 = temp_file("nc4.h5");
  const GridImportSummary a = import_grid(classic, out_classic, o);
  const GridImportSummary b = import_grid(nc4, out_nc4, o);
  EXPECT_EQ(a.tasks, 6);
  EXPECT_EQ(a.points, static_cast<Index>(kDepths * kRows * kCols) - 1);
  EXPECT_EQ(a.missing, 1);
  EXPECT_EQ(b.tasks, a.tasks);
  const TaskSetReader ra(out_classic), rb(out_nc4);
  for (Index t = 0; t < ra.task_count(); ++t) {
    EXPECT_EQ(ra.points(t), rb.points(t));
    EXPECT_EQ(ra.split(t), rb.split(t));
  }
  // Box (0, 0): lat 0.5, 1.5 and lon 0.5, 1.5 at both depths, in grid order, without the missing cell.
  RowMatrix expected(7, 2);
  expected << 0, 0, 1, -1, 10, -10, 11, -11, /* depth 100, (0, 0) missing */ 101, -101, 110, -110, 111, -111;
  EXPECT_EQ(ra.points(0), expected);
  // Boxes 0, 1 (lon 0-4) share a block, so a split; boxes 2 (lon 4-6) is in the other one.
  EXPECT_EQ(ra.split(0), ra.split(1));
  EXPECT_EQ(ra.split(0), ra.split(3));
  EXPECT_NE(ra.split(0), ra.split(2));
}

TEST(GridImport, ExtraCoordinateAndMinimumPoints) {
  const std::string path = write_grid("extra.nc", 0);
  GridImportOptions o = two_by_two();
  o.extra = {ExtraCoordinate::parse("depth:log1p", "--extra-coordinates")};
  o.min_points = 8;  // box (0, 0) has 7
  const std::string out = temp_file("extra.h5");
  const GridImportSummary s = import_grid(path, out, o);
  EXPECT_EQ(s.tasks, 5);
  EXPECT_EQ(s.small_boxes, 1);
  const TaskSetReader r(out);
  EXPECT_EQ(r.dim(), 3);
  const RowMatrix first = r.points(0);  // box (0, 1): lon 2.5, 3.5
  EXPECT_EQ(first(0, 2), 0.0);
  EXPECT_EQ(first(first.rows() - 1, 2), std::log1p(100.0));
  EXPECT_THROW(ExtraCoordinate::parse("depth:log", "--extra-coordinates"), InputError);
}

TEST(GridImport, RefusesWhatTheGridCannotGive) {
  const std::string path = write_grid("refused.nc", 0);
  const std::string out = temp_file("none.h5");
  GridImportOptions o = two_by_two();
  o.min_points = 9;
  EXPECT_THROW(import_grid(path, out, o), InputError);
  o = two_by_two();
  o.variables = {"A", "C"};
  EXPECT_THROW(import_grid(path, out, o), InputError);
  o = two_by_two();
  o.box_y = "time";
  o.box_x = "lon";
  EXPECT_THROW(import_grid(path, out, o), InputError);
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace metagmm::task
