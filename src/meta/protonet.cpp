#include "metagmm/meta/protonet.hpp"

#include "metagmm/core/error.hpp"

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

ProtoNet::ProtoNet(const EncoderShape& encoder, const RefinementOptions& refine)
    : encoder_(encoder), refine_(refine), parameters_(encoder.parameter_count()) {
  refine_.validate();
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

double ProtoNet::combine(const Vector&, std::span<const double> sums, Index tasks, Vector& meta_gradient) {
  const double scale = 1.0 / static_cast<double>(tasks);
  meta_gradient = Eigen::Map<const Vector>(sums.data(), parameters_) * scale;
  return sums[static_cast<std::size_t>(parameters_)] * scale;
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
