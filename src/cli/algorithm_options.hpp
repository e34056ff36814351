#pragma once
// The registered algorithms' settings as `train` options (private to the cli layer): one option
// per setting name, whatever algorithms declare it, so that a newly registered algorithm's
// settings are options without a change here.
#include "metagmm/cli/options.hpp"
#include "metagmm/meta/registry.hpp"

namespace metagmm::cli {

// --algo, and one option per setting of every registered algorithm.
void add_algorithm_options(po::options_description& options);
// `entry`'s settings from the parsed options. InputError for an option given a value other
// than its default that `entry` has no use for (it belongs to other algorithms).
meta::Settings algorithm_settings(const meta::AlgorithmEntry& entry, const po::variables_map& v);

}  // namespace metagmm::cli
