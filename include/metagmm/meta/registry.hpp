#pragma once
// The algorithms by name (docs/extending.md). Each entry holds what the commands need to know
// of an algorithm without naming it: its help text, what kind of model it learns, its settings
// (which become `train` options and checkpoint attributes), the outer optimiser's defaults and
// a factory. `train`, `eval`, `fit` and `inspect` all go through here; a program may register
// more algorithms before it runs the command line (tests/unit/registry_test.cpp does).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "metagmm/meta/algorithm.hpp"
#include "metagmm/meta/model_shape.hpp"
#include "metagmm/meta/settings.hpp"

namespace metagmm::meta {

// The outer optimiser an algorithm is trained with unless the user says otherwise.
struct OuterDefaults {
  std::string method = "sgd";
  double learning_rate = 1.0;
};

using AlgorithmFactory = std::function<std::unique_ptr<Algorithm>(const ModelShape&, const Settings&)>;

struct AlgorithmEntry {
  std::string name;     // --algo NAME, and the checkpoint's algorithm attribute
  std::string summary;  // one sentence for --help
  ModelKind model = ModelKind::mixture;
  std::vector<SettingSpec> settings;
  OuterDefaults outer;
  // Makes the algorithm from complete, checked settings (every spec's name present, of its
  // type); throws SettingError for impossible values or combinations.
  AlgorithmFactory make;
};

// Adds an entry; InputError for a name already taken, or for a setting that another entry
// declares with another type or default (one option serves every algorithm that has it).
void register_algorithm(AlgorithmEntry entry);
// Registered entries in order of registration (the built-in ones first).
const std::vector<AlgorithmEntry>& registered_algorithms();
// SettingError("algo", ...) listing the registered names if there is none.
const AlgorithmEntry& algorithm_entry(const std::string& name);
// "reptile, maml, fomaml or protonet".
std::string algorithm_names();
// Every setting of every entry once, in order of first declaration, and the algorithms that
// use it.
struct SharedSetting {
  SettingSpec spec;
  std::vector<std::string> algorithms;
};
std::vector<SharedSetting> all_algorithm_settings();

// The algorithm `name` for `model` with `settings` (completed with the defaults and checked).
std::unique_ptr<Algorithm> make_algorithm(const std::string& name, const ModelShape& model, const Settings& settings);

// The built-in algorithms' entries (each defined beside its class).
AlgorithmEntry reptile_entry();
AlgorithmEntry maml_entry();
AlgorithmEntry fomaml_entry();
AlgorithmEntry protonet_entry();
AlgorithmEntry bayes_entry();
AlgorithmEntry amortised_entry();

}  // namespace metagmm::meta
