#include "metagmm/task/csv.hpp"

#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "metagmm/core/error.hpp"

namespace metagmm::task {
namespace {

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\r");
  std::string field = text.substr(first, last - first + 1);
  if (field.size() >= 2 && field.front() == '"' && field.back() == '"') field = field.substr(1, field.size() - 2);
  return field;
}

std::vector<std::string> split_fields(const std::string& line, char delimiter) {
  std::vector<std::string> fields;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, delimiter)) fields.push_back(trim(field));
  if (!line.empty() && line.back() == delimiter) fields.emplace_back();
  return fields;
}

bool parse_double(const std::string& text, double& value) {
  const char* end = text.data() + text.size();
  const auto [ptr, error] = std::from_chars(text.data() + (text.size() > 1 && text[0] == '+'), end, value);
  return error == std::errc() && ptr == end && !text.empty();
}

bool parse_int(const std::string& text, std::int32_t& value) {
  const char* end = text.data() + text.size();
  const auto [ptr, error] = std::from_chars(text.data(), end, value);
  return error == std::errc() && ptr == end && !text.empty();
}

// A column named by its header name or by its 0-based index.
Index resolve_column(const std::string& reference, const std::vector<std::string>& header, Index columns,
                     const std::string& option, const std::string& path) {
  for (Index c = 0; c < static_cast<Index>(header.size()); ++c)
    if (header[c] == reference) return c;
  Index index = -1;
  const auto [ptr, error] = std::from_chars(reference.data(), reference.data() + reference.size(), index);
  if (error == std::errc() && ptr == reference.data() + reference.size() && index >= 0 && index < columns) return index;
  std::string names;
  for (const auto& name : header) names += (names.empty() ? "" : ", ") + name;
  throw InputError(option + " '" + reference + "': no such column in " + path +
                   (header.empty() ? " (it has no header; give a 0-based index below " + std::to_string(columns) + ")"
                                   : " (columns: " + names + ")"));
}

}  // namespace

CsvHeader parse_csv_header(const std::string& text, const std::string& what) {
  if (text == "detect") return CsvHeader::detect;
  if (text == "yes") return CsvHeader::present;
  if (text == "no") return CsvHeader::absent;
  throw InputError(what + ": expected detect, yes or no, got '" + text + "'");
}

CsvData read_csv(const std::string& path, const CsvOptions& options) {
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot open (no such file or not readable)");
  std::vector<std::pair<Index, std::vector<std::string>>> rows;  // line number, fields
  std::string line;
  for (Index number = 1; std::getline(in, line); ++number) {
    if (trim(line).empty()) continue;
    rows.emplace_back(number, split_fields(line, options.delimiter));
  }
  if (rows.empty()) throw InputError(path + ": the file is empty");

  const Index columns = static_cast<Index>(rows.front().second.size());
  bool has_header = options.header == CsvHeader::present;
  if (options.header == CsvHeader::detect) {
    double ignored;
    for (const auto& field : rows.front().second)
      if (!parse_double(field, ignored)) has_header = true;
  }
  std::vector<std::string> header;
  if (has_header) {
    header = rows.front().second;
    rows.erase(rows.begin());
  }
  if (rows.empty()) throw InputError(path + ": the file has a header but no data rows");
  const Index label = options.label_column.empty() ? -1 : resolve_column(options.label_column, header, columns, "--label-column", path);
  const Index task = options.task_column.empty() ? -1 : resolve_column(options.task_column, header, columns, "--task-column", path);
  if (label >= 0 && label == task) throw InputError("--label-column and --task-column name the same column of " + path);

  CsvData data;
  std::vector<Index> point_columns;
  for (Index c = 0; c < columns; ++c) {
    if (c == label || c == task) continue;
    point_columns.push_back(c);
    data.point_columns.push_back(has_header ? header[c] : "x" + std::to_string(c));
  }
  if (point_columns.empty()) throw InputError(path + ": no point columns left after the label and task columns");

  const Index N = static_cast<Index>(rows.size()), d = static_cast<Index>(point_columns.size());
  RowMatrix points(N, d);
  IntVector labels(label >= 0 ? N : 0);
  std::vector<Index> task_of_row(N, 0);
  std::map<std::string, Index> task_index;
  for (Index n = 0; n < N; ++n) {
    const auto& [number, fields] = rows[n];
    const std::string where = path + " line " + std::to_string(number);
    if (static_cast<Index>(fields.size()) != columns) {
      throw InputError(where + ": expected " + std::to_string(columns) + " fields, found " + std::to_string(fields.size()));
    }
    for (Index j = 0; j < d; ++j) {
      const std::string& field = fields[point_columns[j]];
      double value;
      if (!parse_double(field, value)) {
        throw InputError(where + ", column " + data.point_columns[j] + ": '" + field + "' is not a number");
      }
      if (!std::isfinite(value)) throw InputError(where + ", column " + data.point_columns[j] + ": NaN and Inf are not allowed");
      points(n, j) = value;
    }
    if (label >= 0 && !parse_int(fields[label], labels[n])) {
      throw InputError(where + ", label column: '" + fields[label] + "' is not an integer (use -1 for unknown)");
    }
    if (task >= 0) {
      const auto [it, inserted] = task_index.emplace(fields[task], static_cast<Index>(data.task_names.size()));
      if (inserted) data.task_names.push_back(fields[task]);
      task_of_row[n] = it->second;
    }
  }
  if (task < 0) data.task_names.push_back(path);

  // Group rows by task, stably.
  const Index T = static_cast<Index>(data.task_names.size());
  data.offsets.assign(T + 1, 0);
  for (Index n = 0; n < N; ++n) ++data.offsets[task_of_row[n] + 1];
  for (Index t = 0; t < T; ++t) data.offsets[t + 1] += data.offsets[t];
  std::vector<std::int64_t> next(data.offsets.begin(), data.offsets.end() - 1);
  data.points.resize(N, d);
  data.labels.resize(labels.size());
  for (Index n = 0; n < N; ++n) {
    const auto row = next[task_of_row[n]]++;
    data.points.row(row) = points.row(n);
    if (label >= 0) data.labels[row] = labels[n];
  }
  return data;
}

void import_csv(const std::string& csv_path, const std::string& out_path, const CsvOptions& options,
                const SplitFractions& split, std::uint64_t seed) {
  const CsvData data = read_csv(csv_path, options);
  std::ostringstream settings;
  settings << "csv = " << csv_path << "\nlabel-column = " << options.label_column << "\ntask-column = " << options.task_column
           << "\nsplit = " << split.to_string() << "\nseed = " << seed << "\ncolumns =";
  for (const auto& name : data.point_columns) settings << " " << name;
  settings << "\n";
  const bool labelled = data.labels.size() > 0;
  TaskSetHeader header{static_cast<Index>(data.point_columns.size()), "import", settings.str(), labelled, std::nullopt, std::nullopt};
  TaskSetWriter writer(out_path, header);
  const Index T = static_cast<Index>(data.task_names.size());
  for (Index t = 0; t < T; ++t) {
    const Index first = data.offsets[t], count = data.offsets[t + 1] - first;
    const RowMatrix points = data.points.middleRows(first, count);
    const IntVector labels = labelled ? IntVector(data.labels.segment(first, count)) : IntVector();
    writer.add_task(points, labelled ? &labels : nullptr, nullptr);
  }
  writer.finish(assign_splits(T, split, seed));
}

}  // namespace metagmm::task
