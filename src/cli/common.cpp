#include "common.hpp"

#include <iostream>
#include <map>
#include <vector>

#include "failure.hpp"
#include "metagmm/cli/commands.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/core/text.hpp"

namespace metagmm::cli {

std::filesystem::path installed_data_file(const std::string& name) {
  std::error_code error;
  const std::filesystem::path binary = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) throw std::runtime_error("cannot find " + name + ": /proc/self/exe unreadable: " + error.message());
  const std::filesystem::path bin = binary.parent_path();
  const std::filesystem::path candidates[] = {bin.parent_path() / METAGMM_DATA_SUBDIR / name,
                                              bin / METAGMM_DATA_SUBDIR / name};
  for (const auto& candidate : candidates)
    if (std::filesystem::is_regular_file(candidate)) return candidate;
  throw std::runtime_error("cannot find " + name + " beside " + binary.string() + " (looked for " +
                           candidates[0].string() + " and " + candidates[1].string() + ")");
}

po::typed_value<double>* real_value(double default_value) {
  return po::value<double>()->default_value(default_value, shortest_text(default_value));
}

// "MIN:MAX" (or a single N meaning N:N).
std::pair<Index, Index> parse_range(const std::string& text, const std::string& option) {
  const auto colon = text.find(':');
  try {
    size_t used = 0;
    const std::string low = text.substr(0, colon), high = colon == std::string::npos ? low : text.substr(colon + 1);
    const Index min = std::stoll(low, &used);
    if (used != low.size()) throw std::invalid_argument(text);
    const Index max = std::stoll(high, &used);
    if (used != high.size()) throw std::invalid_argument(text);
    return {min, max};
  } catch (const std::exception&) {
    throw InputError(option + ": expected MIN:MAX (integers), got '" + text + "'");
  }
}

bool yes_no_option(const po::variables_map& v, const std::string& name) {
  const std::string value = v[name].as<std::string>();
  if (value != "yes" && value != "no") throw InputError("--" + name + ": expected yes or no, got '" + value + "'");
  return value == "yes";
}

std::uint64_t seed_option(const po::variables_map& v) {
  const auto seed = v["seed"].as<long long>();
  if (seed < 0) throw InputError("--seed: expected an integer >= 0");
  return static_cast<std::uint64_t>(seed);
}

// The synthetic family's options, named with `prefix` ("" for generate, "gen-" for train).
void add_generator_options(po::options_description& options, const std::string& prefix) {
  const task::GeneratorOptions d;
  auto name = [&](const char* option) { return (prefix + option); };
  options.add_options()
      (name("family").c_str(), po::value<std::string>()->default_value("anchored"),
       "uniform: means uniform in a box, one shared isotropic scale; anchored: tasks jitter, permute and drop a "
       "fixed set of family anchors; warped: anchored pushed through a smooth invertible map; transformed: "
       "anchored with one random rotation, scale and shift per task moving all its components together; heavy: "
       "anchored with Student-t jitter (components that appear and disappear: anchored with --drop)")
      (name("dim").c_str(), po::value<Index>()->default_value(d.dim), "dimension d of the points")
      (name("components").c_str(), po::value<Index>()->default_value(d.components), "components K of the family (tasks may drop some)")
      (name("tasks").c_str(), po::value<Index>()->default_value(d.tasks), "number of tasks")
      (name("points").c_str(), po::value<std::string>()->default_value("50:200"), "points per task, MIN:MAX, uniform")
      (name("seed").c_str(), po::value<long long>()->default_value(0), "random seed of the family and its tasks")
      (name("truth-covariance").c_str(), po::value<std::string>()->default_value("diag"),
       "covariance type of the true components: diag, spherical or full (uniform: always isotropic)")
      (name("box").c_str(), real_value(d.box), "means (anchors) uniform in [-box, box]^d")
      (name("scale").c_str(), real_value(d.scale), "typical component standard deviation")
      (name("jitter").c_str(), real_value(d.jitter), "anchored/warped: task mean offset from its anchor, in units of scale")
      (name("drop").c_str(), real_value(d.drop), "anchored/warped: probability a component is absent from a task")
      (name("concentration").c_str(), real_value(d.concentration), "Dirichlet concentration of each task's weights")
      (name("warp").c_str(), real_value(d.warp), "warped: strength of the deformation, in [0, 1)")
      (name("shift").c_str(), real_value(d.shift), "transformed: standard deviation of a task's common shift, in units of scale")
      (name("spin").c_str(), real_value(d.spin), "transformed: scale of a task's rotation angles, radians")
      (name("zoom").c_str(), real_value(d.zoom), "transformed: standard deviation of a task's log scale")
      (name("tail-dof").c_str(), real_value(d.tail_dof), "heavy: degrees of freedom of the Student-t jitter")
      (name("split").c_str(), po::value<std::string>()->default_value(d.split.to_string()), "task fractions TRAIN:VALIDATION:TEST");
}

task::GeneratorOptions generator_options(const po::variables_map& v, const std::string& prefix) {
  auto value = [&](const char* option) -> const po::variable_value& { return v[prefix + option]; };
  auto option = [&](const char* option) { return "--" + prefix + option; };
  task::GeneratorOptions o;
  o.family = task::parse_family(value("family").as<std::string>(), option("family"));
  o.dim = value("dim").as<Index>();
  o.components = value("components").as<Index>();
  o.tasks = value("tasks").as<Index>();
  std::tie(o.points_min, o.points_max) = parse_range(value("points").as<std::string>(), option("points"));
  const auto seed = value("seed").as<long long>();
  if (seed < 0) throw InputError(option("seed") + ": expected an integer >= 0");
  o.seed = static_cast<std::uint64_t>(seed);
  o.truth_covariance = gmm::parse_covariance_type(value("truth-covariance").as<std::string>(), option("truth-covariance"));
  o.box = value("box").as<double>();
  o.scale = value("scale").as<double>();
  o.jitter = value("jitter").as<double>();
  o.drop = value("drop").as<double>();
  o.concentration = value("concentration").as<double>();
  o.warp = value("warp").as<double>();
  o.shift = value("shift").as<double>();
  o.spin = value("spin").as<double>();
  o.zoom = value("zoom").as<double>();
  o.tail_dof = value("tail-dof").as<double>();
  o.split = task::SplitFractions::parse(value("split").as<std::string>(), option("split"));
  try {
    o.validate();
  } catch (const InputError& error) {
    // validate() names the options as `generate` spells them ("--dim"); name ours.
    std::string message = error.what();
    if (!prefix.empty() && message.starts_with("--")) message.insert(2, prefix);
    throw InputError(message);
  }
  return o;
}

void add_csv_options(po::options_description& options) {
  options.add_options()
      ("label-column", po::value<std::string>()->default_value(""), "CSV column with integer labels (-1 unknown): header name or 0-based index")
      ("task-column", po::value<std::string>()->default_value(""), "CSV column naming each row's task: header name or 0-based index")
      ("delimiter", po::value<char>()->default_value(','), "CSV field separator")
      ("header", po::value<std::string>()->default_value("detect"), "CSV header row: detect (a first row with any non-number), yes, no");
}

task::CsvOptions csv_options(const po::variables_map& v) {
  task::CsvOptions o;
  o.label_column = v["label-column"].as<std::string>();
  o.task_column = v["task-column"].as<std::string>();
  o.delimiter = v["delimiter"].as<char>();
  o.header = task::parse_csv_header(v["header"].as<std::string>(), "--header");
  return o;
}

int collectively(comm::Communicator& comm, const std::string& command, const std::function<void()>& step) {
  std::vector<std::int64_t> failed(static_cast<std::size_t>(comm.size()), 0);
  std::string line;
  try {
    step();
  } catch (const std::exception& error) {
    const Failure failure = failure_of(command, error);
    failed[static_cast<std::size_t>(comm.rank())] = failure.status;
    line = failure.line;
  }
  comm.sum(failed);
  for (int r = 0; r < comm.size(); ++r) {
    if (failed[static_cast<std::size_t>(r)] != 0) {
      if (r == comm.rank()) std::cerr << line << std::endl;
      return static_cast<int>(failed[static_cast<std::size_t>(r)]);
    }
  }
  return kExitOk;
}

OutputDirectoryGuard::~OutputDirectoryGuard() {
  if (!armed_ || std::uncaught_exceptions() <= exceptions_) return;  // not unwinding: the run went on
  std::error_code error;
  if (std::filesystem::is_empty(directory_, error)) std::filesystem::remove(directory_, error);
}

}  // namespace metagmm::cli
