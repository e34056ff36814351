#include "metagmm/meta/protonet.hpp"

#include <cmath>

#include "metagmm/core/error.hpp"
#include "metagmm/meta/registry.hpp"

namespace metagmm::meta {

EpisodeLayout layout_of(const task::Episode& episode, const RefinementOptions& refine) {
  METAGMM_CHECK(episode.ways > 0 && episode.support.rows() == episode.ways * episode.shots,
                "protonet: a few-shot episode is needed");
  return {episode.ways, episode.shots, episode.query.rows(), refine.steps > 0 ? episode.unlabelled.rows() : 0};
}

void stack_episode(const task::Episode& episode, const RefinementOptions& refine, RowMatrix& out) {
  const EpisodeLayout layout = layout_of(episode, refine);
  out.resize(layout.rows(), episode.support.cols());
  out.topRows(episode.support.rows()) = episode.support;
  out.middleRows(episode.support.rows(), layout.queries) = episode.query;
  out.bottomRows(layout.unlabelled) = episode.unlabelled.topRows(layout.unlabelled);
}

std::vector<SettingSpec> ProtoNetSettings::settings() {
  const RefinementOptions d;
  return {{"refine-steps", std::int64_t{d.steps},
           "soft k-means steps refining the prototypes with the unlabelled points (Ren et al. 2018); 0: none", {}},
          {"distractor-cluster", std::string(d.distractor ? "true" : "false"),
           "refinement: add a cluster at the origin that absorbs unlabelled points of other classes (true/false)",
           flag_choices()},
          {"anchor-decay", 0.0,
           "lambda >= 0 of the penalty lambda/2 ||phi - phi_0||^2 towards the encoder's start (with --encoder-start "
           "identity: towards raw-feature prototypes); 0: none", {}}};
}

ProtoNetSettings ProtoNetSettings::from(const Settings& s) {
  ProtoNetSettings p;
  const std::int64_t steps = s.integer("refine-steps");
  if (steps < 0 || steps > 1'000'000) throw SettingError("refine-steps", "expected an integer in [0, 1000000]");
  p.refine.steps = static_cast<int>(steps);
  p.refine.distractor = s.flag("distractor-cluster");
  p.refine.validate();
  p.anchor_decay = s.real("anchor-decay");
  if (!(p.anchor_decay >= 0.0) || !std::isfinite(p.anchor_decay))
    throw SettingError("anchor-decay", "expected a finite number >= 0");
  return p;
}

Settings ProtoNetSettings::to_settings() const {
  Settings s;
  s.set("refine-steps", std::int64_t{refine.steps});
  s.set("distractor-cluster", std::string(refine.distractor ? "true" : "false"));
  s.set("anchor-decay", anchor_decay);
  return s;
}

AlgorithmEntry protonet_entry() {
  // Adam with Snell et al.'s learning rate.
  return {"protonet",
          "Prototypical Networks: an encoder learned on N-way K-shot episodes of labelled tasks",
          ModelKind::encoder, ProtoNetSettings::settings(), OuterDefaults{"adam", 0.001},
          [](const ModelShape& model, const Settings& settings) {
            const ProtoNetSettings p = ProtoNetSettings::from(settings);
            return std::make_unique<ProtoNet>(*model.encoder, p.refine, p.anchor_decay);
          }};
}

ProtoNet::ProtoNet(const EncoderShape& encoder, const RefinementOptions& refine, double anchor_decay)
    : encoder_(encoder), refine_(refine), anchor_decay_(anchor_decay), parameters_(encoder.parameter_count()) {
  refine_.validate();
}

void ProtoNet::set_anchor(const Vector& start) {
  METAGMM_CHECK(start.size() == parameters_, "protonet: anchor size");
  anchor_ = start;
}

double ProtoNet::loss_and_gradient(const Vector& phi, const task::Episode& episode, Vector& gradient) {
  stack_episode(episode, refine_, stacked_);
  const RowMatrix& embedded = encoder_.forward(phi, stacked_);
  const double loss = classifier_.forward(embedded, layout_of(episode, refine_), episode.query_labels, refine_);
  classifier_.backward(embedded_gradient_);
  encoder_.backward(phi, embedded_gradient_, gradient);
  return loss;
}

void ProtoNet::contribute(const Vector& phi, const task::Episode& episode, std::span<double> out) {
  METAGMM_CHECK(static_cast<Index>(out.size()) == contribution_size(), "protonet: contribution size");
  const double loss = loss_and_gradient(phi, episode, gradient_);
  std::copy(gradient_.data(), gradient_.data() + parameters_, out.begin());
  out[static_cast<std::size_t>(parameters_)] = loss;
}

double ProtoNet::combine(const Vector& phi, std::span<const double> sums, Index tasks, Vector& meta_gradient) {
  const double scale = 1.0 / static_cast<double>(tasks);
  meta_gradient = Eigen::Map<const Vector>(sums.data(), parameters_) * scale;
  const double loss = sums[static_cast<std::size_t>(parameters_)] * scale;
  if (anchor_decay_ == 0.0) return loss;
  METAGMM_CHECK(anchor_.size() == parameters_, "protonet: anchor-decay needs set_anchor()");
  meta_gradient += anchor_decay_ * (phi - anchor_);
  return loss + 0.5 * anchor_decay_ * (phi - anchor_).squaredNorm();
}

double ProtoNet::adapted_log_likelihood(const Vector& phi, const task::Episode& episode) {
  return -score(phi, episode, refine_).loss;
}

EpisodeScore ProtoNet::score(const Vector& phi, const task::Episode& episode, const RefinementOptions& refine) {
  stack_episode(episode, refine, stacked_);
  const RowMatrix& embedded = encoder_.forward(phi, stacked_);
  EpisodeScore result;
  result.loss = classifier_.forward(embedded, layout_of(episode, refine), episode.query_labels, refine);
  result.correct = classifier_.correct();
  result.queries = episode.query.rows();
  return result;
}

}  // namespace metagmm::meta
