#include "metagmm/task/csv.hpp"


#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include "metagmm/core/error.hpp"
#include "metagmm/core/random.hpp"
#include "metagmm/core/text.hpp"
#include "metagmm/task/file_bytes.hpp"

namespace metagmm::task {
namespace {

// "0-4" or "0,2,5-7" (empty: none).
std::vector<std::int32_t> parse_classes(const std::string& text, const std::string& what) {
  std::vector<std::int32_t> classes;
  std::istringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    const auto dash = part.find('-', 1);
    try {
      std::size_t used = 0;
      const long first = std::stol(part.substr(0, dash), &used);
      if (used != std::min(dash, part.size())) throw std::invalid_argument(part);
      long last = first;
      if (dash != std::string::npos) {
        last = std::stol(part.substr(dash + 1), &used);
        if (used != part.size() - dash - 1 || last < first) throw std::invalid_argument(part);
      }
      for (long c = first; c <= last; ++c) classes.push_back(static_cast<std::int32_t>(c));
    } catch (const std::exception&) {
      throw InputError(what + ": expected class lists like 0-4 or 0,2,5-7, got '" + part + "'");
    }
  }
  return classes;
}

using Record = std::pair<Index, std::vector<std::string>>;  // the line it starts on, its fields

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// The records of a CSV text per RFC 4180: fields separated by `delimiter`, records by LF or
// CRLF; a field in double quotes may hold the delimiter, line breaks and doubled quotes ("").
// A UTF-8 byte-order mark is skipped, blanks around a field are not part of it, blank lines
// are skipped.
std::vector<Record> csv_records(const std::string& text, char delimiter, const std::string& path) {
  std::vector<Record> records;
  std::size_t at = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;
  Index line = 1;
  auto fail = [&](const std::string& what) {
    throw InputError(path + ": line " + std::to_string(line) + ": " + what);
  };
  while (at < text.size()) {
    const Index first_line = line;
    std::vector<std::string> fields;
    bool blank_record = true;
    while (true) {  // one field
      while (at < text.size() && is_blank(text[at])) ++at;
      std::string field;
      if (at < text.size() && text[at] == '"') {
        blank_record = false;
        for (++at;; ++at) {
          if (at >= text.size()) {
            line = first_line;
            fail("a quoted field is not closed before the end of the file");
          }
          if (text[at] == '"') {
            if (at + 1 < text.size() && text[at + 1] == '"') {
              field += '"';
              ++at;
              continue;
            }
            ++at;
            break;
          }
          if (text[at] == '\n') ++line;
          field += text[at];
        }
        while (at < text.size() && (is_blank(text[at]) || text[at] == '\r')) ++at;
        if (at < text.size() && text[at] != delimiter && text[at] != '\n') fail("text after a closing quote");
      } else {
        while (at < text.size() && text[at] != delimiter && text[at] != '\n') field += text[at++];
        while (!field.empty() && (is_blank(field.back()) || field.back() == '\r')) field.pop_back();
        if (!field.empty()) blank_record = false;
      }
      fields.push_back(std::move(field));
      if (at < text.size() && text[at] == delimiter) {
        blank_record = false;
        ++at;
        continue;
      }
      break;  // the end of the record (a line break) or of the text
    }
    if (at < text.size()) {  // the line break
      ++at;
      ++line;
    }
    if (!blank_record) records.emplace_back(first_line, std::move(fields));
  }
  return records;
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
  std::vector<Record> rows = csv_records(read_file_bytes(path), options.delimiter, path);
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

ClassSplit ClassSplit::parse(const std::string& text, const std::string& what) {
  std::vector<std::string> parts;
  std::istringstream in(text);
  std::string part;
  while (std::getline(in, part, ':')) parts.push_back(part);
  if (!text.empty() && text.back() == ':') parts.emplace_back();
  if (parts.size() != 3)
    throw InputError(what + ": expected TRAIN:VALIDATION:TEST class lists like 0-4::5-9, got '" + text + "'");
  ClassSplit split;
  split.train = parse_classes(parts[0], what);
  split.validation = parse_classes(parts[1], what);
  split.test = parse_classes(parts[2], what);
  if (split.train.empty()) throw InputError(what + ": no meta-train classes in '" + text + "'");
  std::vector<std::int32_t> all = split.train;
  all.insert(all.end(), split.validation.begin(), split.validation.end());
  all.insert(all.end(), split.test.begin(), split.test.end());
  std::sort(all.begin(), all.end());
  if (const auto twice = std::adjacent_find(all.begin(), all.end()); twice != all.end())
    throw InputError(what + ": class " + std::to_string(*twice) + " is listed twice in '" + text + "'");
  return split;
}

namespace {

std::string import_settings(const std::string& csv_path, const CsvOptions& options, const std::string& split,
                            std::uint64_t seed, const CsvData& data) {
  std::ostringstream settings;
  settings << "csv = " << csv_path << "\nlabel-column = " << options.label_column << "\ntask-column = " << options.task_column
           << "\n" << split << "\nseed = " << seed << "\ncolumns =";
  for (const auto& name : data.point_columns) settings << " " << name;
  settings << "\n";
  return settings.str();
}

std::string class_list(const std::vector<std::int32_t>& classes) {
  std::string text;
  for (const auto c : classes) text += (text.empty() ? "" : ",") + std::to_string(c);
  return text;
}

// One task per split: the rows of its classes in file order; the validation task also gets a
// seeded random `validation_fraction` of each train class's rows.
void import_by_class(const std::string& csv_path, const std::string& out_path, const CsvOptions& options,
                     std::uint64_t seed, const ClassSplit& classes, const CsvData& data) {
  if (data.labels.size() == 0) throw InputError("--class-split: needs --label-column");
  if (data.task_names.size() > 1) throw InputError("--class-split: cannot be combined with --task-column");
  if (!(classes.validation_fraction >= 0.0 && classes.validation_fraction < 1.0))
    throw InputError("--validation-fraction: expected a number in [0, 1)");
  std::map<std::int32_t, std::vector<Index>> rows;
  for (Index i = 0; i < data.labels.size(); ++i) rows[data.labels[i]].push_back(i);
  std::map<std::int32_t, Split> split_of;
  for (const auto& [list, split] : {std::pair{&classes.train, Split::train}, std::pair{&classes.validation, Split::validation},
                                    std::pair{&classes.test, Split::test}}) {
    for (const auto c : *list) {
      if (!rows.count(c)) throw InputError(csv_path + ": --class-split names class " + std::to_string(c) + ", which has no rows");
      split_of[c] = split;
    }
  }
  std::vector<char> held_out(static_cast<std::size_t>(data.labels.size()), 0);
  RandomStream random(seed, StreamPurpose::split, 1);
  for (const auto c : classes.train) {
    std::vector<Index> members = rows[c];
    const auto count = static_cast<Index>(std::llround(classes.validation_fraction * static_cast<double>(members.size())));
    for (Index i = 0; i < count; ++i) {
      const Index pick = i + static_cast<Index>(random.below(members.size() - static_cast<std::size_t>(i)));
      std::swap(members[static_cast<std::size_t>(i)], members[static_cast<std::size_t>(pick)]);
      held_out[static_cast<std::size_t>(members[static_cast<std::size_t>(i)])] = 1;
    }
  }
  std::vector<Index> by_split[3];
  Index left_out = 0;
  for (Index i = 0; i < data.labels.size(); ++i) {
    const auto found = split_of.find(data.labels[i]);
    if (found == split_of.end()) {
      ++left_out;
      continue;
    }
    const Split split = held_out[static_cast<std::size_t>(i)] ? Split::validation : found->second;
    by_split[static_cast<int>(split)].push_back(i);
  }
  const std::string settings = import_settings(
      csv_path, options,
      "class-split = " + class_list(classes.train) + ":" + class_list(classes.validation) + ":" +
          class_list(classes.test) + "\nvalidation-fraction = " + shortest_text(classes.validation_fraction) +
          "\nleft-out-rows = " + std::to_string(left_out),
      seed, data);
  const Index d = static_cast<Index>(data.point_columns.size());
  TaskSetWriter writer(out_path, TaskSetHeader{d, "import", settings, true, std::nullopt, std::nullopt});
  std::vector<std::int8_t> splits;
  for (const Split split : {Split::train, Split::validation, Split::test}) {
    const auto& members = by_split[static_cast<int>(split)];
    if (members.empty()) continue;
    RowMatrix points(static_cast<Index>(members.size()), d);
    IntVector labels(static_cast<Index>(members.size()));
    for (std::size_t i = 0; i < members.size(); ++i) {
      points.row(static_cast<Index>(i)) = data.points.row(members[i]);
      labels[static_cast<Index>(i)] = data.labels[members[i]];
    }
    writer.add_task(points, &labels, nullptr);
    splits.push_back(static_cast<std::int8_t>(split));
  }
  writer.finish(splits);
}

}  // namespace

void import_csv(const std::string& csv_path, const std::string& out_path, const CsvOptions& options,
                const SplitFractions& split, std::uint64_t seed, const ClassSplit* classes) {
  const CsvData data = read_csv(csv_path, options);
  if (classes) {
    import_by_class(csv_path, out_path, options, seed, *classes, data);
    return;
  }
  const bool labelled = data.labels.size() > 0;
  const std::string settings = import_settings(csv_path, options, "split = " + split.to_string(), seed, data);
  TaskSetHeader header{static_cast<Index>(data.point_columns.size()), "import", settings, labelled, std::nullopt, std::nullopt};
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
