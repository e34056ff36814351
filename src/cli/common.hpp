#pragma once
// Option helpers shared by the subcommands (private to the cli layer).
#include <string>
#include <utility>

#include "metagmm/cli/options.hpp"
#include "metagmm/core/types.hpp"
#include "metagmm/task/generate.hpp"

namespace metagmm::cli {

// "MIN:MAX" (or a single N meaning N:N); InputError naming `option` otherwise.
std::pair<Index, Index> parse_range(const std::string& text, const std::string& option);
// --seed as an unsigned 64-bit integer.
std::uint64_t seed_option(const po::variables_map& v);
// The synthetic family's options, named with `prefix` ("" for generate, "gen-" for train).
void add_generator_options(po::options_description& options, const std::string& prefix);
task::GeneratorOptions generator_options(const po::variables_map& v, const std::string& prefix);

}  // namespace metagmm::cli
