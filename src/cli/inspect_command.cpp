// metagmm inspect: what a task set, a model file or a checkpoint holds.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "command_list.hpp"
#include "metagmm/cli/commands.hpp"
#include "metagmm/cli/options.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/h5/file.hpp"
#include "metagmm/task/gmm_file.hpp"
#include "metagmm/task/prior_file.hpp"
#include "metagmm/task/provenance.hpp"
#include "metagmm/task/taskset.hpp"
#include "metagmm/train/checkpoint.hpp"

namespace metagmm::cli {
namespace {

// `text`'s lines, the first after `label`, the others aligned under it.
void print_lines(const std::string& label, const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  bool first = true;
  while (std::getline(lines, line)) {
    std::cout << (first ? label + std::string(12 - label.size(), ' ') : std::string(12, ' ')) << line << "\n";
    first = false;
  }
}

void inspect_task_set(const std::string& path) {
  const task::TaskSetReader reader(path);
  const task::TaskSetInfo& info = reader.info();
  std::vector<Index> sizes(info.tasks);
  for (Index t = 0; t < info.tasks; ++t) sizes[t] = reader.task_size(t);
  std::sort(sizes.begin(), sizes.end());
  std::cout << "file        " << path << "\n"
            << "format      " << info.format << " version " << info.version << "\n"
            << "dim         " << info.dim << "\n"
            << "tasks       " << info.tasks << " (train " << reader.tasks_in(task::Split::train).size() << ", validation "
            << reader.tasks_in(task::Split::validation).size() << ", test " << reader.tasks_in(task::Split::test).size() << ")\n"
            << "points      " << info.points << "; per task min " << sizes.front() << ", median " << sizes[sizes.size() / 2]
            << ", mean " << std::fixed << std::setprecision(1) << static_cast<double>(info.points) / static_cast<double>(info.tasks)
            << ", max " << sizes.back() << "\n"
            << "labels      " << (info.labels ? "yes" : "no") << "\n"
            << "truth       " << (info.truth ? "yes (" + info.truth_space + " space)" : std::string("no")) << "\n"
            << "generator   " << info.generator << "\n";
  print_lines("settings", info.settings);
  std::cout << "created by  " << info.created_by << "\n"
            << "written by  " << task::describe(info.provenance) << "\n";
}

void inspect_model(const std::string& path) {
  const gmm::Gmm model = task::read_gmm_file(path);
  const h5::File file = h5::File::open(path);
  std::cout << "file        " << path << "\n"
            << "format      " << task::kGmmFormat << " version " << file.int_attribute("/", "version").value_or(0) << "\n"
            << "written by  " << task::describe(task::read_provenance(file)) << "\n"
            << "model       " << model.shape.components << " components, " << gmm::to_string(model.shape.covariance)
            << " covariance, d = " << model.shape.dim << ", " << model.shape.parameter_count() << " parameters\n";
  if (auto data = file.string_attribute("/", "data")) {
    std::cout << "fitted on   " << *data << "\n"
              << "loglik      " << std::setprecision(6) << file.double_attribute("/", "mean_log_likelihood").value_or(0)
              << " per point after " << file.int_attribute("/", "iterations").value_or(0) << " iterations ("
              << (file.int_attribute("/", "converged").value_or(0) ? "converged" : "not converged") << ")\n";
  }
  const Vector weights = model.weights();
  std::cout << "weights    ";
  for (Index k = 0; k < weights.size(); ++k) std::cout << " " << std::setprecision(4) << weights[k];
  std::cout << "\n";
}

// The range of one of a prior's per-(component, dimension) quantities.
void print_range(const std::string& label, const RowMatrix& values) {
  std::cout << label << std::setprecision(4) << values.minCoeff() << " to " << values.maxCoeff() << "\n";
}

void inspect_prior(const std::string& path) {
  const gmm::HierarchicalPrior prior = task::read_prior_file(path);
  const h5::File file = h5::File::open(path);
  std::cout << "file        " << path << "\n"
            << "format      " << task::kPriorFormat << " version " << file.int_attribute("/", "version").value_or(0) << "\n"
            << "written by  " << task::describe(task::read_provenance(file)) << "\n"
            << "prior       hierarchical, " << prior.shape.components << " diag components, d = " << prior.shape.dim
            << (prior.coupled() ? ", coupled means (one Gaussian prior over all K d means)" : "") << "\n";
  if (auto data = file.string_attribute("/", "data")) std::cout << "estimated   " << *data << "\n";
  std::cout << "concentration " << std::setprecision(4) << prior.concentration.sum() << " (Dirichlet alpha:";
  for (Index k = 0; k < prior.concentration.size(); ++k) std::cout << " " << prior.concentration[k];
  std::cout << ")\n";
  print_range("between     tau2 from ", prior.between_variance);
  print_range("within      s2 from ", prior.within_variance);
  print_range("strength    kappa from ", prior.strength);
  if (auto settings = file.string_attribute("/", "settings")) print_lines("settings    ", *settings);
}

// Each extra block by name; a block of logarithms ("log_relevance") also as its values.
void print_extra(const std::map<std::string, Vector>& extra) {
  for (const auto& [name, values] : extra) {
    std::cout << "\nextra       " << name << " [" << values.size() << "]";
    const bool logarithms = name.starts_with("log_");
    const Vector shown = logarithms ? Vector(values.array().exp()) : values;
    const std::string label = logarithms ? name.substr(4) : name;
    if (shown.size() <= 8) {
      std::cout << ": " << label;
      for (Index i = 0; i < shown.size(); ++i) std::cout << " " << std::setprecision(4) << shown[i];
    } else if (shown.size() > 0) {
      std::cout << ": " << label << " from " << std::setprecision(4) << shown.minCoeff() << " to " << shown.maxCoeff();
    }
  }
}

void inspect_checkpoint(const std::string& path) {
  const train::Checkpoint c = train::read_checkpoint(path);  // checks the checksum
  std::cout << "file        " << path << "\n"
            << "format      " << train::kCheckpointFormat << " version " << c.format_version
            << " (checksum verified)\n"
            << "written by  " << task::describe(c.provenance) << "\n"
            << "algorithm   " << c.algorithm << ", step " << c.step << ", seed " << c.seed << "\n"
            << "model       " << c.model().describe() << ", " << c.theta.size() << " parameters\n"
            << "optimizer   " << c.optimizer << ", " << c.optimizer_state.steps << " updates\n";
  if (c.metrics.size() > 0) {
    std::cout << "last step   loss " << std::setprecision(6) << c.metrics.loss.back() << ", " << c.metrics.elapsed.back()
              << " s of training\n";
    for (std::size_t i = c.metrics.size(); i-- > 0;) {
      if (!std::isnan(c.metrics.validation[i])) {
        std::cout << "validation  " << c.metrics.validation[i] << " per point at step " << c.metrics.step[i] << "\n";
        break;
      }
    }
  }
  if (!c.encoder) {
    const Vector weights = gmm::Gmm::unpack(c.shape, c.theta).weights();
    std::cout << "weights    ";
    for (Index k = 0; k < weights.size(); ++k) std::cout << " " << std::setprecision(4) << weights[k];
  } else {
    std::cout << "weights     |phi| = " << std::setprecision(4) << c.theta.norm();
  }
  print_extra(c.extra);
  std::cout << "\n";
  print_lines("settings", c.settings.describe());
  std::cout << "configuration:\n" << c.config;
}

}  // namespace

int inspect_command(const std::vector<std::string>& args, comm::Communicator&) {
  const CommandSpec spec{"inspect", "inspect FILE",
                         "Prints what a task set, a fitted model, a hierarchical prior or a training checkpoint holds: format, version,\n"
                         "dimension, task count and size distribution, splits, labels, truth and how it was made;\n"
                         "for a checkpoint the step, model, optimiser, last loss and validation, and the\n"
                         "configuration (after verifying its checksum)."};
  po::options_description options("Options");
  options.add_options()("file", po::value<std::string>()->value_name("FILE"),
                        "task set, model or checkpoint file (also positional)");
  po::positional_options_description positional;
  positional.add("file", 1);
  po::variables_map v;
  if (!parse_options(spec, options, args, v, &positional)) return kExitOk;
  const auto path = required<std::string>(v, "file");
  const h5::File file = h5::File::open(path);
  const auto format = file.string_attribute("/", "format").value_or("(none)");
  if (format == task::kTaskSetFormat) {
    inspect_task_set(path);
  } else if (format == task::kGmmFormat) {
    inspect_model(path);
  } else if (format == train::kCheckpointFormat) {
    inspect_checkpoint(path);
  } else if (format == task::kPriorFormat) {
    inspect_prior(path);
  } else {
    throw InputError(path + ": format '" + format + "' is none of " + task::kTaskSetFormat + ", " + task::kGmmFormat +
                     ", " + train::kCheckpointFormat + ", " + task::kPriorFormat);
  }
  return kExitOk;
}

}  // namespace metagmm::cli
