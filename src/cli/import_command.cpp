// metagmm import: a CSV table of points, a netCDF grid or IDX images into a task set.
#include <iostream>
#include <optional>
#include <sstream>

#include "command_list.hpp"
#include "common.hpp"
#include "metagmm/cli/commands.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/task/csv.hpp"
#include "metagmm/task/grid_import.hpp"
#include "metagmm/task/image_import.hpp"
#include "metagmm/task/taskset.hpp"

namespace metagmm::cli {
namespace {

std::vector<std::string> comma_list(const std::string& text, const std::string& option) {
  std::vector<std::string> items;
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) items.push_back(item);
  if (items.empty()) throw InputError(option + ": expected a comma-separated list, got '" + text + "'");
  return items;
}

// Options that only one source uses: InputError when given with another.
void only_with(const po::variables_map& v, const std::vector<std::string>& names, const std::string& source) {
  for (const std::string& name : names)
    if (given(v, name)) throw InputError("--" + name + ": only used with " + source);
}

const std::vector<std::string> kGridOptions{"variables", "box-dimensions", "box-size", "extra-coordinates", "min-points",
                                            "block-size", "standardise"};
const std::vector<std::string> kImageOptions{"idx-labels", "dim", "classes-per-task", "task-size", "tasks", "concentration"};
const std::vector<std::string> kCsvOptions{"label-column", "task-column", "delimiter", "header", "validation-fraction"};

void import_grid(const po::variables_map& v, const std::string& out) {
  only_with(v, kImageOptions, "--idx-images");
  only_with(v, kCsvOptions, "--csv");
  if (given(v, "class-split")) throw InputError("--class-split: not used with --netcdf");
  task::GridImportOptions o;
  o.variables = comma_list(required<std::string>(v, "variables"), "--variables");
  if (v.count("box-dimensions")) {
    const auto dims = comma_list(v["box-dimensions"].as<std::string>(), "--box-dimensions");
    if (dims.size() != 2) throw InputError("--box-dimensions: expected two dimension names, Y,X");
    o.box_y = dims[0];
    o.box_x = dims[1];
  }
  o.box_size = v["box-size"].as<double>();
  if (v.count("extra-coordinates"))
    for (const auto& item : comma_list(v["extra-coordinates"].as<std::string>(), "--extra-coordinates"))
      o.extra.push_back(task::ExtraCoordinate::parse(item, "--extra-coordinates"));
  o.min_points = v["min-points"].as<long long>();
  o.block_size = v["block-size"].as<double>();
  if (given(v, "split")) o.split = task::SplitFractions::parse(v["split"].as<std::string>(), "--split");
  o.seed = seed_option(v);
  o.standardise = yes_no_option(v, "standardise");
  const auto summary = task::import_grid(v["netcdf"].as<std::string>(), out, o);
  std::cout << "wrote " << summary.tasks << " tasks (" << summary.points << " points, d = " << o.variables.size() + o.extra.size()
            << ") to " << out << "; skipped " << summary.missing << " missing cells and " << summary.small_boxes
            << " boxes under --min-points\n";
}

void import_images(const po::variables_map& v, const std::string& out) {
  only_with(v, kGridOptions, "--netcdf");
  only_with(v, kCsvOptions, "--csv");
  if (given(v, "split")) throw InputError("--split: not used with --idx-images (--class-split and --tasks say what goes where)");
  task::ImageImportOptions o;
  o.classes = task::ClassSplit::parse(required<std::string>(v, "class-split"), "--class-split");
  o.dim = v["dim"].as<long long>();
  o.classes_per_task = v["classes-per-task"].as<long long>();
  o.task_size = v["task-size"].as<long long>();
  {
    std::istringstream in(v["tasks"].as<std::string>());
    std::string part;
    std::size_t s = 0;
    while (std::getline(in, part, ':')) {
      std::size_t used = 0;
      long long n = -1;
      try { n = std::stoll(part, &used); } catch (const std::exception&) { used = 0; }
      if (s >= 3 || used != part.size() || part.empty() || n < 0) s = 4;
      if (s < 3) o.tasks[s] = n;
      ++s;
    }
    if (s != 3) throw InputError("--tasks: expected TRAIN:VALIDATION:TEST task counts like 2000:200:1000, got '" +
                                 v["tasks"].as<std::string>() + "'");
  }
  o.concentration = v["concentration"].as<double>();
  o.seed = seed_option(v);
  const auto summary = task::import_images(v["idx-images"].as<std::string>(), required<std::string>(v, "idx-labels"), out, o);
  std::cout << "wrote " << summary.tasks << " tasks of " << o.task_size << " images (d = " << o.dim << ", "
            << 100.0 * summary.explained << "% of the training images' variance) to " << out << "\n";
}

void import_table(const po::variables_map& v, const std::string& out) {
  only_with(v, kGridOptions, "--netcdf");
  only_with(v, kImageOptions, "--idx-images");
  const auto split = task::SplitFractions::parse(given(v, "split") ? v["split"].as<std::string>() : "1:0:0", "--split");
  std::optional<task::ClassSplit> classes;
  if (v.count("class-split")) {
    if (given(v, "split")) throw InputError("--class-split: cannot be combined with --split");
    classes = task::ClassSplit::parse(v["class-split"].as<std::string>(), "--class-split");
    // Validation classes of their own say how a learner transfers to new classes; unseen images of
    // the training classes would blur that, so they are held out only when asked or when there
    // are no validation classes.
    const bool own_classes = !classes->validation.empty();
    classes->validation_fraction = given(v, "validation-fraction") ? v["validation-fraction"].as<double>()
                                   : own_classes                   ? 0.0
                                                                   : classes->validation_fraction;
  } else if (given(v, "validation-fraction")) {
    throw InputError("--validation-fraction: only used with --class-split");
  }
  task::import_csv(v["csv"].as<std::string>(), out, csv_options(v), split, seed_option(v), classes ? &*classes : nullptr);
  const task::TaskSetReader written(out);
  std::cout << "wrote " << written.task_count() << " tasks (" << written.info().points << " points, d = " << written.dim()
            << (written.info().labels ? ", labelled" : "") << ") to " << out << "\n";
}

}  // namespace

int import_command(const std::vector<std::string>& args, comm::Communicator&) {
  const CommandSpec spec{
      "import",
      "import (--csv FILE | --netcdf FILE --variables A,B | --idx-images FILE --idx-labels FILE --class-split T:V:T) --out FILE [options]",
      "Converts outside data into a task set (written atomically: nothing is left on failure).\n"
      "--csv: a CSV table of points (optionally gzip-compressed, FILE.gz). Every column other than the\n"
      "  label and task columns is a coordinate. Rows are grouped into tasks by the task column, in\n"
      "  order of first appearance; without one the whole file is one task. With --class-split, one\n"
      "  labelled pool becomes a few-shot benchmark: one task per split holding that split's classes.\n"
      "--netcdf: gridded variables of a netCDF file (classic or netCDF-4). A grid cell where every\n"
      "  variable is present is a point (its coordinates: the variables, then --extra-coordinates);\n"
      "  a task is one box of --box-size x --box-size units over two dimensions with at least\n"
      "  --min-points points; whole blocks of --block-size units go to one split, so test regions\n"
      "  are unseen in training. Coordinates are standardised on the training split\n"
      "  (/standardisation); each task's box is kept in /task_coordinates.\n"
      "--idx-images/--idx-labels: an IDX image collection (MNIST, Fashion-MNIST; FILE.gz read through\n"
      "  zlib). Each split draws its tasks from its own classes: a task is --classes-per-task of them\n"
      "  in Dirichlet proportions, --task-size images labelled by class, reduced to --dim coordinates\n"
      "  by principal components of the training classes' images (/projection).\n"
      "The task set records its source file and settings (metagmm inspect shows them)."};
  po::options_description source("Source and output (one source)");
  source.add_options()
      ("csv", po::value<std::string>()->value_name("FILE"), "input CSV file")
      ("netcdf", po::value<std::string>()->value_name("FILE"), "input netCDF file")
      ("idx-images", po::value<std::string>()->value_name("FILE"), "input IDX image file (magic 0x00000803)")
      ("out", po::value<std::string>()->value_name("FILE"), "output task set (required)")
      ("split", po::value<std::string>()->default_value("1:0:0"),
       "fractions TRAIN:VALIDATION:TEST of the tasks (--csv) or of the blocks of boxes (--netcdf, default "
       "0.6:0.2:0.2 there)")
      ("seed", po::value<long long>()->default_value(0), "seed of the shuffle that assigns splits, and of the image tasks")
      ("class-split", po::value<std::string>()->value_name("TRAIN:VALIDATION:TEST"),
       "class lists (ranges and commas, e.g. 0-3:4-6:7-9). --csv: split one labelled pool by class (VALIDATION may "
       "be empty; needs --label-column; replaces --split); --idx-images: the classes each split's tasks draw from "
       "(required)");
  po::options_description csv("--csv");
  csv.add_options()
      ("validation-fraction", real_value(task::ClassSplit{}.validation_fraction),
       "with --class-split: the fraction of each TRAIN class's rows held out (seeded) into the validation task, "
       "beside the VALIDATION classes; left unset, 0 when VALIDATION names classes (validation then holds only "
       "classes training never sees)");
  add_csv_options(csv);
  const task::GridImportOptions grid_defaults;
  po::options_description grid("--netcdf");
  grid.add_options()
      ("variables", po::value<std::string>()->value_name("A,B"), "the variables that make each point's coordinates "
       "(same dimensions; required), e.g. TEMP,SALT")
      ("box-dimensions", po::value<std::string>()->value_name("Y,X"),
       "the two dimensions the boxes span, each with a coordinate variable; default: the variables' last two")
      ("box-size", real_value(grid_defaults.box_size), "a box's side, in the box coordinates' units (degrees for a "
       "latitude-longitude grid)")
      ("extra-coordinates", po::value<std::string>()->value_name("NAME[:log1p],..."),
       "other dimensions whose coordinate values are added to each point, after the variables; :log1p stores "
       "log(1 + value) (depths from 0 m spread over decades)")
      ("min-points", po::value<long long>()->default_value(grid_defaults.min_points),
       "a box becomes a task when it holds at least this many points")
      ("block-size", real_value(grid_defaults.block_size),
       "boxes are assigned to splits by blocks of this side (a whole multiple of --box-size)")
      ("standardise", po::value<std::string>()->default_value("yes"),
       "yes: centre and scale each coordinate by the training split's mean and standard deviation "
       "(stored in /standardisation); no: keep raw units");
  const task::ImageImportOptions image_defaults;
  po::options_description images("--idx-images");
  images.add_options()
      ("idx-labels", po::value<std::string>()->value_name("FILE"), "IDX label file, one label per image (magic 0x00000801; required)")
      ("dim", po::value<long long>()->default_value(image_defaults.dim), "principal components kept: the task set's d")
      ("classes-per-task", po::value<long long>()->default_value(image_defaults.classes_per_task),
       "classes mixed in each task")
      ("task-size", po::value<long long>()->default_value(image_defaults.task_size), "images per task")
      ("tasks", po::value<std::string>()->default_value("2000:200:1000"), "task counts TRAIN:VALIDATION:TEST")
      ("concentration", real_value(image_defaults.concentration),
       "of the symmetric Dirichlet that draws each task's class proportions");
  po::options_description options;
  options.add(source).add(csv).add(grid).add(images);
  po::variables_map v;
  if (!parse_options(spec, options, args, v)) return kExitOk;
  const auto out = required<std::string>(v, "out");
  const int sources = static_cast<int>(v.count("csv") + v.count("netcdf") + v.count("idx-images"));
  if (sources != 1) throw InputError("import: expected exactly one of --csv, --netcdf and --idx-images, got " + std::to_string(sources));
  if (v.count("netcdf")) import_grid(v, out);
  else if (v.count("idx-images")) import_images(v, out);
  else import_table(v, out);
  return kExitOk;
}

}  // namespace metagmm::cli
