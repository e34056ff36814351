// metagmm eval of encoder checkpoints (ProtoNet): the options, and the few-shot evaluation of
// eval/fewshot.hpp on them.
#include <iostream>

#include "common.hpp"
#include "eval_common.hpp"
#include "fewshot_options.hpp"
#include "metagmm/core/atomic_file.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/eval/fewshot.hpp"

namespace metagmm::cli {

void add_protonet_eval_options(po::options_description& options) {
  const eval::FewShotEvalOptions defaults;
  po::options_description protonet("ProtoNet checkpoints: few-shot episodes (the refinement rows use --refine-steps)");
  protonet.add_options()("episodes", po::value<Index>()->default_value(defaults.episodes), "few-shot episodes to evaluate");
  FewShotSettings fewshot;
  fewshot.episodes.unlabelled = 5;
  fewshot.refine.steps = 1;
  add_fewshot_options(protonet, fewshot, true);
  protonet.add_options()
      ("linear-baselines", po::value<std::string>()->default_value("yes"),
       "yes: also prototypes after PCA of the train split and after a shrinkage-LDA metric (within-class "
       "covariance of the training classes shrunk towards the identity), their m and lambda chosen on validation "
       "episodes (held-out classes where the task set has them)")
      ("baseline-episodes", po::value<Index>()->default_value(defaults.linear.validation_episodes),
       "validation episodes choosing each linear baseline's setting")
      ("pca-components", po::value<Index>()->default_value(0),
       "PCA's m, given (1 to d) instead of chosen on validation episodes (0), e.g. as chosen on another split")
      ("lda-shrinkage", real_value(0.0),
       "shrinkage LDA's lambda in (0, 1], given instead of chosen on validation episodes (0)");
  po::options_description head("ProtoNet checkpoints: the GMM head, EM on whole tasks in the embedding against EM on the raw points");
  head.add_options()
      ("head-tasks", po::value<Index>()->default_value(defaults.head_tasks), "tasks of the split clustered (the first N); 0: none")
      ("head-covariance", po::value<std::string>()->default_value("diag"), "covariance type: diag, spherical or full")
      ("head-reg-covar", real_value(1e-3), "variance floor of the head's EM (raw pixels have constant coordinates)")
      ("head-max-iter", po::value<int>()->default_value(defaults.head.em.max_iterations), "EM iterations at most");
  options.add(protonet).add(head);
}

eval::FewShotEvalOptions protonet_eval_options(const po::variables_map& v, const EvalInput& input) {
  eval::FewShotEvalOptions o;
  o.episodes = v["episodes"].as<Index>();
  const FewShotSettings fewshot = fewshot_settings(v);
  o.fewshot = fewshot.episodes;
  o.refine = fewshot.refine;
  o.head_tasks = v["head-tasks"].as<Index>();
  o.linear_baselines = yes_no_option(v, "linear-baselines");
  o.linear.validation_episodes = v["baseline-episodes"].as<Index>();
  o.linear.pca_components = v["pca-components"].as<Index>();
  o.linear.lda_shrinkage = v["lda-shrinkage"].as<double>();
  o.head.covariance = gmm::parse_covariance_type(v["head-covariance"].as<std::string>(), "--head-covariance");
  o.head.em.reg_covar = v["head-reg-covar"].as<double>();
  o.head.em.max_iterations = v["head-max-iter"].as<int>();
  o.split = input.split;
  o.seed = input.seed;
  o.validate();
  o.linear.validate(input.source->dim());
  return o;
}

void evaluate_protonets(const eval::FewShotEvalOptions& o, EvalInput& input) {
  std::vector<eval::EncoderModel> models;
  for (const EvalCheckpoint& c : input.checkpoints) models.push_back({c.path, *c.checkpoint.encoder, c.checkpoint.theta});
  { AtomicFile probe(input.out / "eval.json"); }  // writable, before the work
  const eval::FewShotReport report = eval::evaluate_fewshot(models, *input.source, o);
  std::cout << eval::fewshot_text(report);
  eval::write_fewshot_results(input.out, report);
}

}  // namespace metagmm::cli
