#include "metagmm/task/grid_import.hpp"

#include <netcdf.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <utility>

#include "metagmm/core/error.hpp"
#include "metagmm/core/text.hpp"
#include "metagmm/task/transform.hpp"

namespace metagmm::task {
namespace {

// An open netCDF file, closed when it goes out of scope; every failing call is an InputError
// naming the file.
class NetcdfFile {
 public:
  explicit NetcdfFile(std::string path) : path_(std::move(path)) {
    std::error_code error;
    if (!std::filesystem::is_regular_file(path_, error)) throw InputError(path_ + ": no such file");
    const int status = nc_open(path_.c_str(), NC_NOWRITE, &id_);
    if (status != NC_NOERR) {
      throw InputError(path_ + ": expected a netCDF file (classic or netCDF-4): " + nc_strerror(status));
    }
  }
  ~NetcdfFile() { nc_close(id_); }
  NetcdfFile(const NetcdfFile&) = delete;
  NetcdfFile& operator=(const NetcdfFile&) = delete;

  const std::string& path() const { return path_; }

  void check(int status, const std::string& doing) const {
    if (status != NC_NOERR) throw InputError(path_ + ": " + doing + ": " + nc_strerror(status));
  }

  std::vector<std::string> variable_names() const {
    int count = 0;
    check(nc_inq_nvars(id_, &count), "listing the variables");
    std::vector<std::string> names;
    char name[NC_MAX_NAME + 1];
    for (int v = 0; v < count; ++v) {
      check(nc_inq_varname(id_, v, name), "listing the variables");
      names.emplace_back(name);
    }
    return names;
  }

  // The variable's id; InputError naming the variables the file has when it is missing.
  int variable(const std::string& name) const {
    int id = -1;
    if (nc_inq_varid(id_, name.c_str(), &id) == NC_NOERR) return id;
    std::string known;
    for (const std::string& n : variable_names()) known += (known.empty() ? "" : ", ") + n;
    throw InputError(path_ + ": no variable '" + name + "' (the file has: " + known + ")");
  }

  std::vector<int> dimensions(int variable) const {
    int count = 0;
    check(nc_inq_varndims(id_, variable, &count), "reading a variable's dimensions");
    std::vector<int> ids(static_cast<std::size_t>(count));
    check(nc_inq_vardimid(id_, variable, ids.data()), "reading a variable's dimensions");
    return ids;
  }

  std::string dimension_name(int dimension) const {
    char name[NC_MAX_NAME + 1];
    check(nc_inq_dimname(id_, dimension, name), "reading a dimension's name");
    return name;
  }

  std::size_t dimension_length(int dimension) const {
    std::size_t length = 0;
    check(nc_inq_dimlen(id_, dimension, &length), "reading a dimension's length");
    return length;
  }

  // The whole variable as doubles (C order), packed values unpacked (scale_factor, add_offset);
  // missing values (_FillValue, missing_value, NaN) become NaN.
  std::vector<double> values(int variable, const std::string& name, std::size_t count) const {
    std::vector<double> data(count);
    check(nc_get_var_double(id_, variable, data.data()), "reading variable " + name);
    std::vector<double> missing;
    for (const char* attribute : {"_FillValue", "missing_value"})
      if (const auto value = scalar_attribute(variable, attribute)) missing.push_back(*value);
    const double scale = scalar_attribute(variable, "scale_factor").value_or(1.0);
    const double offset = scalar_attribute(variable, "add_offset").value_or(0.0);
    for (double& v : data) {
      if (std::isnan(v) || std::find(missing.begin(), missing.end(), v) != missing.end()) {
        v = std::numeric_limits<double>::quiet_NaN();
      } else {
        v = v * scale + offset;
      }
    }
    return data;
  }

 private:
  std::optional<double> scalar_attribute(int variable, const char* name) const {
    nc_type type = NC_NAT;
    std::size_t length = 0;
    if (nc_inq_att(id_, variable, name, &type, &length) != NC_NOERR || length != 1 || type == NC_CHAR ||
        type == NC_STRING)
      return std::nullopt;
    double value = 0.0;
    check(nc_get_att_double(id_, variable, name, &value), std::string("reading attribute ") + name);
    return value;
  }

  std::string path_;
  int id_ = -1;
};

std::int64_t floor_index(double value, double size) { return static_cast<std::int64_t>(std::floor(value / size)); }

std::string join(const std::vector<std::string>& parts) {
  std::string text;
  for (const std::string& part : parts) text += (text.empty() ? "" : ",") + part;
  return text;
}

// Where, among the variables' dimensions, the dimension called `name` is; InputError otherwise.
std::size_t find_dimension(const std::vector<std::string>& names, const std::string& name, const std::string& where,
                           const std::string& what) {
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) {
    throw InputError(where + ": " + what + " '" + name + "' is not a dimension of the variables (they have: " + join(names) + ")");
  }
  return static_cast<std::size_t>(it - names.begin());
}

// The coordinate variable of a dimension: 1-D over it, with its name.
std::vector<double> coordinate_values(const NetcdfFile& file, const std::string& name, int dimension) {
  int variable = -1;
  {
    const auto names = file.variable_names();
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      throw InputError(file.path() + ": dimension '" + name + "' has no coordinate variable (a 1-D variable of the same name)");
    }
    variable = file.variable(name);
  }
  const auto dims = file.dimensions(variable);
  if (dims.size() != 1 || dims[0] != dimension) {
    throw InputError(file.path() + ": variable '" + name + "' is not the coordinate variable of its dimension (expected 1-D over it)");
  }
  std::vector<double> values = file.values(variable, name, file.dimension_length(dimension));
  for (const double v : values)
    if (!std::isfinite(v)) throw InputError(file.path() + ": coordinate variable '" + name + "' has a missing or non-finite value");
  return values;
}

}  // namespace

ExtraCoordinate ExtraCoordinate::parse(const std::string& text, const std::string& what) {
  const auto colon = text.find(':');
  ExtraCoordinate extra{text.substr(0, colon), false};
  if (colon != std::string::npos) {
    if (text.substr(colon + 1) != "log1p") throw InputError(what + ": expected NAME or NAME:log1p, got '" + text + "'");
    extra.log1p = true;
  }
  if (extra.name.empty()) throw InputError(what + ": expected NAME or NAME:log1p, got '" + text + "'");
  return extra;
}

GridImportSummary import_grid(const std::string& netcdf_path, const std::string& out_path, const GridImportOptions& o) {
  if (o.variables.empty()) throw InputError("--variables: expected at least one variable name");
  if (!(o.box_size > 0.0) || !std::isfinite(o.box_size)) throw InputError("--box-size: expected a positive number");
  const double blocks_per_box = o.block_size / o.box_size;
  if (!(blocks_per_box >= 1.0) || blocks_per_box != std::round(blocks_per_box) || !std::isfinite(blocks_per_box)) {
    throw InputError("--block-size: expected a whole multiple of --box-size (" + shortest_text(o.box_size) + "), got " +
                     shortest_text(o.block_size));
  }
  if (o.min_points < 1) throw InputError("--min-points: expected at least 1");
  const auto boxes_per_block = static_cast<std::int64_t>(blocks_per_box);

  const NetcdfFile file(netcdf_path);
  const std::string& where = file.path();
  std::vector<int> variables;
  std::vector<int> dims;
  for (const std::string& name : o.variables) {
    variables.push_back(file.variable(name));
    const auto these = file.dimensions(variables.back());
    if (variables.size() == 1) {
      dims = these;
    } else if (these != dims) {
      throw InputError(where + ": variable '" + name + "' has other dimensions than '" + o.variables[0] + "' (every variable must share the grid)");
    }
  }
  std::vector<std::string> dim_names;
  std::vector<std::size_t> lengths;
  for (const int d : dims) {
    dim_names.push_back(file.dimension_name(d));
    lengths.push_back(file.dimension_length(d));
  }
  if (dims.size() < 2) throw InputError(where + ": variable '" + o.variables[0] + "' has fewer than 2 dimensions: no boxes to group by");
  const std::size_t y_at = o.box_y.empty() ? dims.size() - 2 : find_dimension(dim_names, o.box_y, where, "--box-dimensions");
  const std::size_t x_at = o.box_x.empty() ? dims.size() - 1 : find_dimension(dim_names, o.box_x, where, "--box-dimensions");
  if (y_at == x_at) throw InputError("--box-dimensions: expected two different dimensions");
  const std::vector<double> ys = coordinate_values(file, dim_names[y_at], dims[y_at]);
  const std::vector<double> xs = coordinate_values(file, dim_names[x_at], dims[x_at]);
  std::vector<std::size_t> extra_at;
  std::vector<std::vector<double>> extra_values;
  for (const ExtraCoordinate& extra : o.extra) {
    extra_at.push_back(find_dimension(dim_names, extra.name, where, "--extra-coordinates"));
    if (extra_at.back() == y_at || extra_at.back() == x_at) {
      throw InputError("--extra-coordinates: '" + extra.name + "' is a box dimension");
    }
    std::vector<double> values = coordinate_values(file, extra.name, dims[extra_at.back()]);
    if (extra.log1p) {
      for (double& v : values) {
        if (!(v > -1.0)) throw InputError(where + ": coordinate '" + extra.name + "' has a value <= -1, which log1p cannot take");
        v = std::log1p(v);
      }
    }
    extra_values.push_back(std::move(values));
  }

  std::size_t cells = 1;
  for (const std::size_t n : lengths) cells *= n;
  std::vector<std::vector<double>> grids;
  for (std::size_t v = 0; v < variables.size(); ++v) grids.push_back(file.values(variables[v], o.variables[v], cells));

  // Every present cell into its box, in the grid's own (C) order.
  const Index d = static_cast<Index>(variables.size() + o.extra.size());
  std::map<std::pair<std::int64_t, std::int64_t>, std::vector<double>> boxes;
  GridImportSummary summary;
  std::vector<std::size_t> index(lengths.size(), 0);
  for (std::size_t cell = 0; cell < cells; ++cell) {
    bool present = true;
    for (const auto& grid : grids) present = present && !std::isnan(grid[cell]);
    if (present) {
      auto& rows = boxes[{floor_index(ys[index[y_at]], o.box_size), floor_index(xs[index[x_at]], o.box_size)}];
      for (const auto& grid : grids) rows.push_back(grid[cell]);
      for (std::size_t e = 0; e < extra_at.size(); ++e) rows.push_back(extra_values[e][index[extra_at[e]]]);
    } else {
      ++summary.missing;
    }
    for (std::size_t k = lengths.size(); k-- > 0;) {  // the next cell's index, last dimension fastest
      if (++index[k] < lengths[k]) break;
      index[k] = 0;
    }
  }

  // The boxes kept, their blocks, and the split of each block.
  std::vector<std::pair<std::int64_t, std::int64_t>> kept;
  std::size_t largest = 0;
  for (const auto& [box, rows] : boxes) {
    const std::size_t count = rows.size() / static_cast<std::size_t>(d);
    largest = std::max(largest, count);
    if (static_cast<std::int64_t>(count) >= o.min_points) kept.push_back(box); else ++summary.small_boxes;
  }
  if (kept.empty()) {
    throw InputError(where + ": no box of " + shortest_text(o.box_size) + " x " + shortest_text(o.box_size) + " holds --min-points " +
                     std::to_string(o.min_points) + " points (the largest holds " + std::to_string(largest) + ")");
  }
  const auto block_of = [&](const std::pair<std::int64_t, std::int64_t>& box) {
    const auto floor_div = [](std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); };
    return std::make_pair(floor_div(box.first, boxes_per_block), floor_div(box.second, boxes_per_block));
  };
  std::map<std::pair<std::int64_t, std::int64_t>, Index> block_number;
  for (const auto& box : kept) block_number.emplace(block_of(box), 0);
  Index next = 0;
  for (auto& [block, number] : block_number) number = next++;
  const std::vector<std::int8_t> block_splits = assign_splits(next, o.split, o.seed);
  std::vector<std::int8_t> splits;
  std::vector<RowMatrix> tasks;
  RowMatrix coordinates(static_cast<Index>(kept.size()), 2);
  for (const auto& box : kept) {
    const std::vector<double>& rows = boxes[box];
    const Index n = static_cast<Index>(rows.size()) / d;
    coordinates.row(static_cast<Index>(tasks.size())) << static_cast<double>(box.first) * o.box_size,
        static_cast<double>(box.second) * o.box_size;
    tasks.push_back(Eigen::Map<const RowMatrix>(rows.data(), n, d));
    splits.push_back(block_splits[block_number[block_of(box)]]);
    summary.points += n;
  }
  summary.tasks = static_cast<Index>(tasks.size());
  if (std::count(splits.begin(), splits.end(), static_cast<std::int8_t>(Split::train)) == 0) {
    throw InputError("--split: " + o.split.to_string() + " leaves no training task among " + std::to_string(next) + " blocks");
  }

  std::optional<Standardisation> standardisation;
  if (o.standardise) {
    Index train_points = 0;
    for (std::size_t t = 0; t < tasks.size(); ++t)
      if (splits[t] == static_cast<std::int8_t>(Split::train)) train_points += tasks[t].rows();
    RowMatrix train(train_points, d);
    Index at = 0;
    for (std::size_t t = 0; t < tasks.size(); ++t) {
      if (splits[t] != static_cast<std::int8_t>(Split::train)) continue;
      train.middleRows(at, tasks[t].rows()) = tasks[t];
      at += tasks[t].rows();
    }
    standardisation = Standardisation::fit(train, where);
  }

  std::vector<std::string> extras;
  for (const ExtraCoordinate& e : o.extra) extras.push_back(e.name + (e.log1p ? ":log1p" : ""));
  const std::string settings = "source = " + std::filesystem::weakly_canonical(netcdf_path).string() + "\nformat = netcdf" +
                               "\nvariables = " + join(o.variables) + "\nbox_dimensions = " + dim_names[y_at] + "," +
                               dim_names[x_at] + "\nbox_size = " + shortest_text(o.box_size) + "\nextra_coordinates = " +
                               join(extras) + "\nmin_points = " + std::to_string(o.min_points) + "\nblock_size = " +
                               shortest_text(o.block_size) + "\nsplit = " + o.split.to_string() + "\nseed = " +
                               std::to_string(o.seed) + "\nstandardise = " + (o.standardise ? "yes" : "no") +
                               "\nmissing_cells = " + std::to_string(summary.missing) + "\nsmall_boxes = " +
                               std::to_string(summary.small_boxes);
  TaskSetWriter writer(out_path, TaskSetHeader{d, "import", settings, false, std::nullopt, std::nullopt});
  for (const RowMatrix& points : tasks) writer.add_task(standardisation ? standardisation->apply(points) : points, nullptr, nullptr);
  writer.add_array("/task_coordinates", {static_cast<std::uint64_t>(coordinates.rows()), 2}, coordinates.data(),
                   "each task's box: its lower bounds on the two box dimensions (attribute columns)");
  writer.set_attribute("/task_coordinates", "columns", dim_names[y_at] + "," + dim_names[x_at]);
  if (standardisation) standardisation->write(writer);
  writer.finish(splits);
  return summary;
}

}  // namespace metagmm::task
