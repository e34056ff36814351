#include "metagmm/meta/bayes.hpp"

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/gradient.hpp"
#include "metagmm/task/prior_file.hpp"

namespace metagmm::meta {

std::vector<SettingSpec> BayesSettings::settings() {
  const BayesSettings d;
  return {
      {"inner-steps", std::int64_t{d.steps}, "inner adaptation steps m", {}},
      {"prior", d.prior,
       "bayes: the hierarchical prior training starts from (metagmm fit --data TASKS:train --prior heb --out FILE); "
       "step 0 of training is then the hierarchical empirical Bayes baseline",
       {}},
      {"mean-coupling", std::string("none"),
       "bayes: none (each component's mean has its own prior, as hierarchical empirical Bayes) or full (one "
       "Gaussian prior over all K d means with a learned Cholesky factor, starting at the --prior file's coupling (0 "
       "for fit --prior heb, the moments estimate for fit --prior heb-coupled), so components can "
       "move together: a shared shift, rotation or scale per task; costs O((K d)^3) per step and (K d)^2 / 2 "
       "meta-parameters)",
       {"none", "full"}},
  };
}

BayesSettings BayesSettings::from(const Settings& s) {
  BayesSettings b;
  const std::int64_t steps = s.integer("inner-steps");
  if (steps < 1 || steps > 1000) throw SettingError("inner-steps", "bayes: expected an integer in [1, 1000]");
  b.steps = static_cast<int>(steps);
  b.prior = s.text("prior");
  b.coupled = s.text("mean-coupling") == "full";
  if (b.prior.empty())
    throw SettingError("prior", "bayes starts from a hierarchical prior: give --prior FILE (metagmm fit --data "
                                "TASKS:train --prior heb --out FILE writes one)");
  return b;
}

Settings BayesSettings::to_settings() const {
  Settings s;
  s.set("inner-steps", std::int64_t{steps});
  s.set("prior", prior);
  s.set("mean-coupling", std::string(coupled ? "full" : "none"));
  return s;
}

BayesianAdaptation::BayesianAdaptation(const gmm::GmmShape& shape, const BayesSettings& settings)
    : shape_(shape), meta_size_(gmm::HierarchicalPrior::flat_size(shape, settings.coupled)), settings_(settings) {
  if (shape.covariance != gmm::CovarianceType::diag)
    throw SettingError("covariance", gmm::to_string(shape.covariance),
                       "bayes learns a prior over diagonal mixtures; use diag");
}

std::vector<ParameterBlock> hierarchical_prior_blocks(const gmm::GmmShape& shape, bool coupled) {
  const Index Kd = shape.components * shape.dim;
  std::vector<ParameterBlock> blocks{
      {"log_concentration", 1}, {"log_between_variance", Kd}, {"log_within_variance", Kd}, {"log_strength", Kd}};
  if (coupled) blocks.push_back({"mean_coupling", gmm::HierarchicalPrior::coupling_size(shape)});
  return blocks;
}

std::vector<ParameterBlock> BayesianAdaptation::extra_parameters() const {
  return hierarchical_prior_blocks(shape_, settings_.coupled);
}

const Vector& BayesianAdaptation::starting_prior() const {
  if (!start_) {
    const gmm::HierarchicalPrior prior =
        task::read_prior_file(settings_.prior, shape_, "--prior", "the configuration has");
    // A coupled prior (fit --prior heb-coupled) starts the coupled learner at heb-coupled; an
    // independent one starts it uncoupled, at heb. The independent learner cannot drop a coupling.
    if (prior.coupled() && !settings_.coupled)
      throw SettingError("mean-coupling", "bayes: --prior " + settings_.prior +
                                              " holds coupled means (fit --prior heb-coupled); train it with "
                                              "--mean-coupling full, or give an independent prior (fit --prior heb)");
    start_ = settings_.coupled && !prior.coupled() ? prior.with_coupling().pack() : prior.pack();
  }
  return *start_;
}

std::optional<Vector> BayesianAdaptation::initial_model() const {
  return Vector(starting_prior().head(shape_.parameter_count()));
}

Vector BayesianAdaptation::initial_extra_parameters() const {
  return starting_prior().tail(meta_size_ - shape_.parameter_count());
}

void bayes_iterates(const gmm::HierarchicalPrior& prior, RowMatrixRef points, int steps,
                    std::vector<gmm::PosteriorState>& path, std::vector<Vector>& iterates) {
  iterates.assign(1, prior.first_model().pack());
  try {
    gmm::variational_path(prior, points, steps, path);
  } catch (const NumericError&) {
    for (const auto& q : path) iterates.push_back(gmm::posterior_predictive(q, prior.shape).pack());
    throw;
  }
  for (const auto& q : path) iterates.push_back(gmm::posterior_predictive(q, prior.shape).pack());
}

void BayesianAdaptation::adaptation_path(const Vector& meta, RowMatrixRef points, int steps,
                                         std::vector<Vector>& iterates) {
  bayes_iterates(gmm::HierarchicalPrior::unpack(shape_, meta), points, steps, path_, iterates);
}

Vector BayesianAdaptation::adapted_model(const Vector& meta, RowMatrixRef points) {
  const gmm::HierarchicalPrior prior = gmm::HierarchicalPrior::unpack(shape_, meta);
  gmm::variational_path(prior, points, settings_.steps, path_);
  return gmm::posterior_predictive(path_.back(), shape_).pack();
}

void BayesianAdaptation::contribute(const Vector& meta, const task::Episode& episode, std::span<double> out) {
  METAGMM_CHECK(static_cast<Index>(out.size()) == contribution_size(), "contribution size");
  const gmm::HierarchicalPrior prior = gmm::HierarchicalPrior::unpack(shape_, meta);
  gmm::variational_path(prior, episode.support, settings_.steps, path_);
  const double loss =
      gmm::loss_and_gradient(gmm::posterior_predictive(path_.back(), shape_), episode.query, evaluator_, adjoint_);
  Eigen::Map<Vector>(out.data(), meta_size_) = gmm::variational_path_gradient(prior, episode.support, path_, adjoint_);
  out[static_cast<std::size_t>(meta_size_)] = loss;
}

double BayesianAdaptation::combine(const Vector&, std::span<const double> sums, Index tasks, Vector& meta_gradient) {
  return mean_gradient_and_loss(sums, meta_size_, tasks, meta_gradient);
}

double BayesianAdaptation::adapted_log_likelihood(const Vector& meta, const task::Episode& episode) {
  return evaluator_.mean_log_likelihood(gmm::Gmm::unpack(shape_, adapted_model(meta, episode.support)), episode.query);
}

// Adam at 0.001: with 20 tasks a step and noisy episodes (jitter 2, 10 support points) 0.003 walked
// the prior away from its start faster than validation could stop it (docs/results.md).
AlgorithmEntry bayes_entry() {
  return {"bayes",
          "meta-learned Bayesian adaptation: a hierarchical prior learned through m variational-EM steps, scored "
          "as the posterior predictive; starts at the hierarchical empirical Bayes estimate (--prior)",
          ModelKind::mixture, BayesSettings::settings(), OuterDefaults{"adam", 0.001},
          [](const ModelShape& model, const Settings& settings) -> std::unique_ptr<Algorithm> {
            return std::make_unique<BayesianAdaptation>(model.mixture, BayesSettings::from(settings));
          }};
}

}  // namespace metagmm::meta
