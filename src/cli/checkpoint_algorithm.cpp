#include "checkpoint_algorithm.hpp"

#include "metagmm/cli/options.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/meta/protonet.hpp"

namespace metagmm::cli {

std::unique_ptr<meta::Algorithm> make_algorithm(const AlgorithmSettings& s) {
  if (s.name == "protonet") return std::make_unique<meta::ProtoNet>(*s.model.encoder, s.fewshot.refine);
  if (s.name == "reptile") return std::make_unique<meta::Reptile>(s.model.mixture, s.inner, s.weighting);
  if (s.name == "maml" && s.inner.method == meta::InnerMethod::map) {
    // Through MAP steps the learned extras are the relevance factors, not step sizes.
    if (s.step_sizes != meta::StepSizeLearning::none)
      throw InputError("--meta-sgd " + meta::to_string(s.step_sizes) +
                       ": learned step sizes need --inner sgd (maml through MAP steps learns the relevance factors)");
    return std::make_unique<meta::MapMaml>(s.model.mixture, s.inner);
  }
  const auto order = s.name == "maml" ? meta::MamlOrder::second : meta::MamlOrder::first;
  return std::make_unique<meta::Maml>(s.model.mixture, s.inner, order, s.step_sizes);
}

std::unique_ptr<meta::Algorithm> checkpoint_algorithm(const train::Checkpoint& c, const std::string& path) {
  const auto config = parse_config_lines(c.config);
  auto setting = [&](const std::string& key) {
    const auto found = config.find(key);
    if (found == config.end())
      throw InputError(path + ": the stored configuration has no '" + key + "' (a checkpoint of an older build?)");
    return found->second;
  };
  auto number = [&](const std::string& key) {
    try {
      return std::stod(setting(key));
    } catch (const std::invalid_argument&) {
      throw InputError(path + ": stored " + key + " = '" + setting(key) + "' is not a number");
    }
  };
  AlgorithmSettings s;
  s.name = c.algorithm;
  s.model = c.model();
  if (s.name == "protonet") return make_algorithm(s);
  const std::string where = path + ": stored ";
  s.inner.method = meta::parse_inner_method(setting("inner"), where + "inner");
  s.inner.steps = static_cast<int>(number("inner-steps"));
  s.inner.learning_rate = number("inner-lr");
  s.inner.reg_covar = number("reg-covar");
  // Checkpoints from before MAP steps have no relevance setting and never used it.
  if (config.count("relevance")) s.inner.relevance = gmm::Relevance::parse(setting("relevance"), where + "relevance");
  s.inner.validate();
  s.weighting = meta::parse_reptile_weighting(setting("weighting"), where + "weighting");
  // Checkpoints from before Meta-SGD have no meta-sgd setting and learned none.
  s.step_sizes = config.count("meta-sgd") ? meta::parse_step_size_learning(setting("meta-sgd"), where + "meta-sgd")
                                          : meta::StepSizeLearning::none;
  auto algorithm = make_algorithm(s);
  if (algorithm->extra_meta_parameters() != c.inner_log_step_sizes.size())
    throw InputError(path + ": holds " + std::to_string(c.inner_log_step_sizes.size()) +
                     " learned step sizes or relevance factors, its configuration describes " +
                     std::to_string(algorithm->extra_meta_parameters()));
  return algorithm;
}

Vector meta_parameters(const train::Checkpoint& c) {
  Vector meta(c.theta.size() + c.inner_log_step_sizes.size());
  meta << c.theta, c.inner_log_step_sizes;
  return meta;
}

}  // namespace metagmm::cli
