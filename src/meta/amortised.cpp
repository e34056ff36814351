#include "metagmm/meta/amortised.hpp"

#include <array>
#include <cmath>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/gradient.hpp"
#include "metagmm/meta/bayes.hpp"
#include "metagmm/meta/map_maml.hpp"
#include "metagmm/task/prior_file.hpp"

namespace metagmm::meta {
namespace {

std::string widths_text(const std::vector<Index>& widths) {
  std::string text;
  for (const Index w : widths) text += (text.empty() ? "" : ",") + std::to_string(w);
  return text;
}

// Another algorithm's declaration of `name`, so that the option is one for every algorithm.
SettingSpec shared_setting(const std::vector<SettingSpec>& specs, const std::string& name) {
  for (const SettingSpec& spec : specs)
    if (spec.name == name) return spec;
  METAGMM_CHECK(false, "shared setting " + name);
  return {};
}
SettingSpec inner_setting(const std::string& name) { return shared_setting(InnerOptions::settings(), name); }

// The set encoder for `shape`; SettingError unless the mixture is diagonal.
SetEncoderShape encoder_shape(const gmm::GmmShape& shape, const AmortisedSettings& settings) {
  if (shape.covariance != gmm::CovarianceType::diag)
    throw SettingError("covariance", gmm::to_string(shape.covariance), "amortised proposes diagonal mixtures; use diag");
  return settings.encoder_shape(shape);
}

}  // namespace

SetEncoderShape AmortisedSettings::encoder_shape(const gmm::GmmShape& mixture) const {
  return {mixture, point_widths, head_widths, attention_blocks, heads, inducing};
}

std::vector<SettingSpec> AmortisedSettings::settings() {
  const AmortisedSettings d;
  return {
      inner_setting("inner-steps"),
      inner_setting("reg-covar"),
      inner_setting("relevance"),
      {"amortised-inner", std::string("map"),
       "amortised: the steps after the encoder's start: map (MAP-EM steps towards the start, learned relevance "
       "factors) or bayes (the start is a hierarchical prior's first E-step mixture and means, the rest of the "
       "prior learned as bayes learns it, from --prior; variational-EM steps scored as the posterior predictive)",
       {"map", "bayes"}},
      shared_setting(BayesSettings::settings(), "prior"),
      {"set-widths", widths_text(d.point_widths),
       "amortised: the set encoder's per-point MLP widths, comma-separated (the last is the embedding that the "
       "seeds attend over and that is mean-pooled)",
       {}},
      {"head-widths", widths_text(d.head_widths),
       "amortised: the hidden widths of the head that turns each seed's pooled embedding into its component's "
       "start",
       {}},
      {"set-attention", std::int64_t{d.attention_blocks},
       "amortised: induced-attention blocks (the Set Transformer's ISAB) after the per-point MLP, so that each "
       "point's embedding has seen the other points before the seeds pool them; 0: none (each embedding sees its "
       "own point only)",
       {}},
      {"set-heads", std::int64_t{d.heads},
       "amortised: the attention blocks' heads; they must divide the embedding width (the last --set-widths)", {}},
      {"set-inducing", std::int64_t{d.inducing},
       "amortised: the inducing rows of each attention block (its attention costs n x this per task)", {}},
  };
}

AmortisedSettings AmortisedSettings::from(const Settings& s) {
  AmortisedSettings a;
  Settings inner = s;
  inner.set("inner", std::string("map"));
  inner.set("inner-lr", InnerOptions().learning_rate);
  a.inner = InnerOptions::from(inner);
  a.bayes = s.text("amortised-inner") == "bayes";
  a.prior = s.text("prior");
  if (a.bayes && a.prior.empty())
    throw SettingError("prior", "amortised --amortised-inner bayes starts from a hierarchical prior: give --prior FILE "
                                "(metagmm fit --data TASKS:train --prior heb --out FILE writes one)");
  if (a.bayes && a.inner.steps < 1) throw SettingError("inner-steps", "amortised --amortised-inner bayes: expected >= 1");
  a.point_widths = parse_widths(s.text("set-widths"), "set-widths");
  a.head_widths = parse_widths(s.text("head-widths"), "head-widths");
  a.attention_blocks = s.integer("set-attention");
  if (a.attention_blocks < 0 || a.attention_blocks > 16)
    throw SettingError("set-attention", "expected an integer in [0, 16]");
  a.heads = s.integer("set-heads");
  a.inducing = s.integer("set-inducing");
  if (a.inducing < 1 || a.inducing > 4096) throw SettingError("set-inducing", "expected an integer in [1, 4096]");
  const Index width = a.point_widths.back();
  if (a.attention_blocks > 0 && (a.heads < 1 || width % a.heads != 0))
    throw SettingError("set-heads", "expected a divisor (>= 1) of the embedding width " + std::to_string(width) +
                                        " (the last --set-widths)");
  return a;
}

Settings AmortisedSettings::to_settings() const {
  Settings s;
  s.set("inner-steps", std::int64_t{inner.steps});
  s.set("reg-covar", inner.reg_covar);
  s.set("relevance", inner.relevance.to_string());
  s.set("amortised-inner", std::string(bayes ? "bayes" : "map"));
  s.set("prior", prior);
  s.set("set-widths", widths_text(point_widths));
  s.set("head-widths", widths_text(head_widths));
  s.set("set-attention", std::int64_t{attention_blocks});
  s.set("set-heads", std::int64_t{heads});
  s.set("set-inducing", std::int64_t{inducing});
  return s;
}

AmortisedAdaptation::AmortisedAdaptation(const gmm::GmmShape& shape, const AmortisedSettings& settings)
    : shape_(shape),
      settings_(settings),
      parameters_(shape.parameter_count()),
      steps_size_(settings.bayes ? gmm::HierarchicalPrior::flat_size(shape) - shape.parameter_count() : 3),
      encoder_(encoder_shape(shape, settings)) {
  meta_size_ = parameters_ + steps_size_ + encoder_.shape().parameter_count();
  for (const double r : {settings.inner.relevance.weights, settings.inner.relevance.means,
                         settings.inner.relevance.covariances})
    if (!(r > 0.0)) throw SettingError("relevance", "amortised learns log r, so every factor must be > 0");
}

std::vector<ParameterBlock> AmortisedAdaptation::extra_parameters() const {
  const SetEncoderShape& s = encoder_.shape();
  std::vector<ParameterBlock> blocks =
      settings_.bayes ? hierarchical_prior_blocks(shape_, false) : std::vector<ParameterBlock>{{"log_relevance", 3}};
  blocks.push_back({"set_point_mlp", s.point_shape().parameter_count()});
  if (s.attention_blocks > 0) blocks.push_back({"set_attention", s.attention_parameter_count()});
  for (ParameterBlock block : std::vector<ParameterBlock>{{"set_seeds", s.mixture.components * s.embedding()},
                                                          {"set_head", s.head_shape().parameter_count()},
                                                          {"set_gate", 1}})
    blocks.push_back(block);
  return blocks;
}

const Vector& AmortisedAdaptation::starting_prior() const {
  if (!prior_file_) {
    const gmm::HierarchicalPrior prior =
        task::read_prior_file(settings_.prior, shape_, "--prior", "the configuration has");
    if (prior.coupled())
      throw SettingError("prior", "amortised: --prior " + settings_.prior +
                                      " holds coupled means (fit --prior heb-coupled); give an independent prior "
                                      "(fit --prior heb)");
    prior_file_ = prior.pack();
  }
  return *prior_file_;
}

std::optional<Vector> AmortisedAdaptation::initial_model() const {
  if (!settings_.bayes) return std::nullopt;
  return Vector(starting_prior().head(parameters_));
}

Vector AmortisedAdaptation::initial_extra_parameters() const {
  Vector steps(steps_size_);
  if (settings_.bayes) {
    steps = starting_prior().tail(steps_size_);
  } else {
    const gmm::Relevance& r = settings_.inner.relevance;
    steps << std::log(r.weights), std::log(r.means), std::log(r.covariances);
  }
  RandomStream random(0, StreamPurpose::meta_init, 1);
  const Vector weights = SetEncoder::initial_weights(encoder_.shape(), random);
  Vector extra(steps_size_ + weights.size());
  extra << steps, weights;
  return extra;
}

gmm::HierarchicalPrior AmortisedAdaptation::task_prior(const Vector& meta, const Vector& start) const {
  Vector flat(parameters_ + steps_size_);
  flat << start, meta.segment(parameters_, steps_size_);
  return gmm::HierarchicalPrior::unpack(shape_, flat);
}

gmm::Relevance AmortisedAdaptation::relevance(const Vector& meta) const {
  return {std::exp(meta[parameters_]), std::exp(meta[parameters_ + 1]), std::exp(meta[parameters_ + 2])};
}

const Vector& AmortisedAdaptation::start(const Vector& meta, RowMatrixRef points) {
  METAGMM_CHECK(meta.size() == meta_size_, "amortised: meta-parameter count");
  return encoder_.forward(meta.head(parameters_), meta.tail(meta_size_ - parameters_ - steps_size_), points);
}

void AmortisedAdaptation::adaptation_path(const Vector& meta, RowMatrixRef points, int steps,
                                          std::vector<Vector>& iterates) {
  if (settings_.bayes) {
    bayes_iterates(task_prior(meta, start(meta, points)), points, steps, path_, iterates);
    return;
  }
  map_path(gmm::Gmm::unpack(shape_, start(meta, points)), points, relevance(meta), settings_.inner.reg_covar, steps,
           evaluator_, iterates);
}

Vector AmortisedAdaptation::adapted_model(const Vector& meta, RowMatrixRef points) {
  adaptation_path(meta, points, settings_.inner.steps, iterates_);
  return iterates_.back();
}

void AmortisedAdaptation::contribute(const Vector& meta, const task::Episode& episode, std::span<double> out) {
  METAGMM_CHECK(static_cast<Index>(out.size()) == contribution_size(), "contribution size");
  Eigen::Map<Vector> gradient(out.data(), meta_size_);
  double loss = 0.0;
  if (settings_.bayes) {
    const gmm::HierarchicalPrior prior = task_prior(meta, start(meta, episode.support));
    gmm::variational_path(prior, episode.support, settings_.inner.steps, path_);
    loss = gmm::loss_and_gradient(gmm::posterior_predictive(path_.back(), shape_), episode.query, evaluator_, adjoint_);
    const Vector prior_gradient = gmm::variational_path_gradient(prior, episode.support, path_, adjoint_);
    start_gradient_ = prior_gradient.head(parameters_);  // the first E-step mixture is the start
    gradient.segment(parameters_, steps_size_) = prior_gradient.tail(steps_size_);
  } else {
    const gmm::Gmm prior = gmm::Gmm::unpack(shape_, start(meta, episode.support));
    const gmm::Relevance r = relevance(meta);
    map_path(prior, episode.support, r, settings_.inner.reg_covar, settings_.inner.steps, evaluator_, iterates_);
    loss = gmm::loss_and_gradient(gmm::Gmm::unpack(shape_, iterates_.back()), episode.query, evaluator_, adjoint_);
    std::array<double, 3> log_relevance{};
    map_path_reverse(prior, iterates_, r, settings_.inner.reg_covar, episode.support, adjoint_, start_gradient_,
                     log_relevance);
    for (Index b = 0; b < 3; ++b) gradient[parameters_ + b] = log_relevance[static_cast<std::size_t>(b)];
  }
  encoder_.backward(start_gradient_, base_gradient_, weight_gradient_);
  gradient.head(parameters_) = base_gradient_;
  gradient.tail(weight_gradient_.size()) = weight_gradient_;
  out[static_cast<std::size_t>(meta_size_)] = loss;
}

double AmortisedAdaptation::combine(const Vector&, std::span<const double> sums, Index tasks, Vector& meta_gradient) {
  return mean_gradient_and_loss(sums, meta_size_, tasks, meta_gradient);
}

double AmortisedAdaptation::adapted_log_likelihood(const Vector& meta, const task::Episode& episode) {
  return evaluator_.mean_log_likelihood(gmm::Gmm::unpack(shape_, adapted_model(meta, episode.support)), episode.query);
}

// Adam at 0.003: the encoder learns from scratch (its head from zero); on the small uniform protocol of
// tests/cli/test_amortised.py 0.003 reached a validation log-likelihood of -1.96 in 3 000 steps of 16
// tasks, 0.01 -2.01.
AlgorithmEntry amortised_entry() {
  return {"amortised",
          "amortised adaptation: a set encoder reads the support and proposes the start of m MAP-EM steps towards "
          "it; the encoder, the base mixture and the relevance factors are learned through the steps",
          ModelKind::mixture, AmortisedSettings::settings(), OuterDefaults{"adam", 0.003},
          [](const ModelShape& model, const Settings& settings) -> std::unique_ptr<Algorithm> {
            return std::make_unique<AmortisedAdaptation>(model.mixture, AmortisedSettings::from(settings));
          }};
}

}  // namespace metagmm::meta
