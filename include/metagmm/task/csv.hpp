#pragma once
// Reading point tables from CSV: numeric point columns, an optional integer label column and
// an optional task column (any text; rows are grouped into tasks in order of first
// appearance, keeping their order within a task).
#include <string>
#include <vector>

#include "metagmm/core/types.hpp"
#include "metagmm/task/taskset.hpp"

namespace metagmm::task {

enum class CsvHeader { detect, present, absent };
CsvHeader parse_csv_header(const std::string& text, const std::string& what);

struct CsvOptions {
  std::string label_column;  // --label-column: header name or 0-based index; empty: none
  std::string task_column;   // --task-column: header name or 0-based index; empty: one task
  char delimiter = ',';      // --delimiter
  CsvHeader header = CsvHeader::detect;  // --header: detect treats a first row with any
                                         // non-number as a header
};

struct CsvData {
  std::vector<std::string> point_columns;
  RowMatrix points;                   // grouped by task
  IntVector labels;                   // empty without a label column
  std::vector<std::int64_t> offsets;  // task t owns rows [offsets[t], offsets[t+1])
  std::vector<std::string> task_names;
};

// Throws InputError naming the file, line and column of the first defect: ragged rows,
// non-numbers, NaN/Inf, missing columns, an empty table.
CsvData read_csv(const std::string& path, const CsvOptions& options);

// Which classes of one labelled pool go to which split, as few-shot benchmarks divide a
// dataset: disjoint class sets for meta-train and test; validation gets the classes listed for
// it and a held-out fraction of every meta-train class's points (so that it exists even when
// there are too few classes to spare).
struct ClassSplit {
  std::vector<std::int32_t> train, validation, test;
  double validation_fraction = 0.2;  // --validation-fraction: of each train class's points
  // "0-4:5:6-9" or "0-4::5-9" (ranges and comma lists; VALIDATION may be empty); InputError
  // naming `what` otherwise, or if a class is listed twice.
  static ClassSplit parse(const std::string& text, const std::string& what);
};

// Writes a CSV file as a task set (atomically): one task per distinct task column value (or
// the whole file), assigned to splits by `split`; or, with `classes`, one task per split
// holding the points of its classes (a label column is needed; other classes are left out).
// A file name ending in .gz is read through zlib.
void import_csv(const std::string& csv_path, const std::string& out_path, const CsvOptions& options,
                const SplitFractions& split, std::uint64_t seed, const ClassSplit* classes = nullptr);

}  // namespace metagmm::task
