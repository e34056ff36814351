#include "metagmm/meta/registry.hpp"

#include <algorithm>

#include "metagmm/core/error.hpp"

namespace metagmm::meta {
namespace {

std::vector<AlgorithmEntry>& table();

void add(std::vector<AlgorithmEntry>& entries, AlgorithmEntry entry) {
  for (const AlgorithmEntry& existing : entries) {
    if (existing.name == entry.name) throw InputError("algorithm '" + entry.name + "' is registered twice");
    for (const SettingSpec& theirs : existing.settings) {
      for (const SettingSpec& ours : entry.settings) {
        if (theirs.name == ours.name && theirs.default_value != ours.default_value) {
          throw InputError("algorithm '" + entry.name + "': setting " + ours.name + " (" +
                           setting_type_name(ours.default_value) + ", default " + setting_text(ours.default_value) +
                           ") differs from " + existing.name + "'s (" + setting_type_name(theirs.default_value) +
                           ", default " + setting_text(theirs.default_value) + ")");
        }
      }
    }
  }
  entries.push_back(std::move(entry));
}

// The built-in algorithms, registered on first use (no static-initialisation order to depend on).
std::vector<AlgorithmEntry>& table() {
  static std::vector<AlgorithmEntry> entries = [] {
    std::vector<AlgorithmEntry> builtin;
    add(builtin, reptile_entry());
    add(builtin, maml_entry());
    add(builtin, fomaml_entry());
    add(builtin, protonet_entry());
    add(builtin, bayes_entry());
    add(builtin, amortised_entry());
    return builtin;
  }();
  return entries;
}

}  // namespace

void register_algorithm(AlgorithmEntry entry) { add(table(), std::move(entry)); }

const std::vector<AlgorithmEntry>& registered_algorithms() { return table(); }

std::string algorithm_names() {
  const auto& entries = table();
  std::string names;
  for (std::size_t i = 0; i < entries.size(); ++i)
    names += (i == 0 ? "" : i + 1 == entries.size() ? " or " : ", ") + entries[i].name;
  return names;
}

const AlgorithmEntry& algorithm_entry(const std::string& name) {
  for (const AlgorithmEntry& entry : table())
    if (entry.name == name) return entry;
  throw SettingError("algo", "expected " + algorithm_names() + ", got '" + name + "'");
}

std::vector<SharedSetting> all_algorithm_settings() {
  std::vector<SharedSetting> shared;
  for (const AlgorithmEntry& entry : table()) {
    for (const SettingSpec& spec : entry.settings) {
      auto found = std::find_if(shared.begin(), shared.end(), [&](const SharedSetting& s) { return s.spec.name == spec.name; });
      if (found == shared.end()) {
        shared.push_back({spec, {}});
        found = shared.end() - 1;
      }
      found->algorithms.push_back(entry.name);
    }
  }
  return shared;
}

std::unique_ptr<Algorithm> make_algorithm(const std::string& name, const ModelShape& model, const Settings& settings) {
  const AlgorithmEntry& entry = algorithm_entry(name);
  if (model.kind() != entry.model) {
    throw InputError(name + " learns " + (entry.model == ModelKind::encoder ? "an encoder" : "a mixture") +
                     ", the model given is " + (model.encoder ? "an encoder" : "a mixture"));
  }
  return entry.make(model, complete_settings(entry.settings, settings));
}

}  // namespace metagmm::meta
