#include "fewshot_options.hpp"

#include "metagmm/core/error.hpp"

namespace metagmm::cli {

void add_fewshot_options(po::options_description& options, const FewShotSettings& defaults, bool refinement) {
  const task::FewShotOptions& e = defaults.episodes;
  options.add_options()
      ("ways", po::value<Index>()->default_value(e.ways), "classes per few-shot episode (N-way)")
      ("shots", po::value<Index>()->default_value(e.shots), "labelled support points per class (K-shot)")
      ("queries", po::value<Index>()->default_value(e.queries), "query points per class, classified by the prototypes")
      ("unlabelled", po::value<Index>()->default_value(e.unlabelled),
       "unlabelled points per class, used by --refine-steps to refine the prototypes")
      ("distractor-classes", po::value<Index>()->default_value(e.distractor_classes),
       "classes outside the episode that add --unlabelled unlabelled points each (distractors)");
  if (!refinement) return;
  options.add_options()
      ("refine-steps", po::value<int>()->default_value(defaults.refine.steps),
       "soft k-means steps refining the prototypes with the unlabelled points (Ren et al. 2018); 0: none")
      ("distractor-cluster",
       po::value<bool>()->default_value(defaults.refine.distractor, defaults.refine.distractor ? "true" : "false"),
       "refinement: add a cluster at the origin that absorbs unlabelled points of other classes (true/false)");
}

task::FewShotOptions fewshot_episodes(const po::variables_map& v) {
  task::FewShotOptions e;
  e.ways = v["ways"].as<Index>();
  e.shots = v["shots"].as<Index>();
  e.queries = v["queries"].as<Index>();
  e.unlabelled = v["unlabelled"].as<Index>();
  e.distractor_classes = v["distractor-classes"].as<Index>();
  e.validate();
  return e;
}

void check_refinement(const meta::RefinementOptions& refine, const task::FewShotOptions& episodes) {
  refine.validate();
  if (refine.steps > 0 && episodes.unlabelled == 0)
    throw InputError("--refine-steps: refinement needs unlabelled points; set --unlabelled");
}

FewShotSettings fewshot_settings(const po::variables_map& v) {
  FewShotSettings s;
  s.episodes = fewshot_episodes(v);
  s.refine.steps = v["refine-steps"].as<int>();
  s.refine.distractor = v["distractor-cluster"].as<bool>();
  check_refinement(s.refine, s.episodes);
  return s;
}

}  // namespace metagmm::cli
