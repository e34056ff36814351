#pragma once
// A set encoder (docs/design.md, "Amortised adaptation"): reads a task's points and proposes the
// starting mixture of its adaptation, so the start depends on the task (one learned start cannot
// say where components placed at random are). Permutation-invariant by construction:
//   H      = phi(X)                      per-point MLP, n x h (meta/encoder.hpp)
//   H      = ISAB_B(...ISAB_1(H))        optional: B induced-attention blocks, so that each
//                                        point's embedding has seen the others (meta/set_attention.hpp)
//   A[:,k] = softmax_i(H S_k / sqrt(h))  attention of each of K learned seeds over the points
//                                        (the Set Transformer's pooling by multihead attention)
//   Z_k    = sum_i A_ik H_i,  Xbar_k = sum_i A_ik x_i,  m = mean_i H_i
//   O_k    = psi([Z_k, m, Xbar_k])       head MLP, shared by the seeds, 1 + 2d outputs
//   start_k: logit  = base logit_k + O_k0
//            mean   = base mean_k + g (Xbar_k - base mean_k) + O_k,1..d
//            log sd = base log sd_k + O_k,d+1..2d
// with a base mixture (the learner's model) and a learned gate g. At the initial weights (the
// head's last layer zero, g = 0) the start is the base mixture exactly, so training begins at
// the best single learned start and can only move away from it where that helps.
//
// The weights are one flat vector: the per-point MLP, the B attention blocks, the seeds S (K x h,
// row by row), the head MLP, then g. backward() is the exact reverse pass (tests check it against
// central differences).
#include <vector>

#include "metagmm/core/random.hpp"
#include "metagmm/core/types.hpp"
#include "metagmm/gmm/params.hpp"
#include "metagmm/meta/encoder.hpp"
#include "metagmm/meta/set_attention.hpp"

namespace metagmm::meta {

struct SetEncoderShape {
  gmm::GmmShape mixture;            // the mixture it starts (diag)
  std::vector<Index> point_widths;  // the per-point MLP's widths; the last is h
  std::vector<Index> head_widths;   // the head's hidden widths (its output, 1 + 2d, follows)
  Index attention_blocks = 0;       // B: induced-attention blocks after the per-point MLP
  Index heads = 4;                  // their attention heads (dividing h)
  Index inducing = 16;              // their inducing rows
  AttentionShape attention_shape() const { return {embedding(), heads, inducing}; }
  Index attention_parameter_count() const { return attention_blocks * attention_shape().parameter_count(); }
  EncoderShape point_shape() const { return {mixture.dim, point_widths}; }
  EncoderShape head_shape() const;
  Index embedding() const { return point_widths.empty() ? 0 : point_widths.back(); }  // h
  Index parameter_count() const;
  void validate() const;  // InputError: a diagonal mixture, at least one point layer, B >= 0
};

class SetEncoder {
 public:
  explicit SetEncoder(SetEncoderShape shape);
  const SetEncoderShape& shape() const { return shape_; }
  // He initialisation for both MLPs, the attention blocks' initial weights, the head's last layer
  // zero, seeds standard normal, g = 0.
  static Vector initial_weights(const SetEncoderShape& shape, RandomStream& random);
  // The starting mixture's flat parameters for `points`; keeps what backward() needs (a copy of
  // the points among it). The attention blocks' weights are read where they lie, not copied: they
  // must stay unchanged until backward().
  const Vector& forward(const Vector& base, Eigen::Ref<const Vector> weights, RowMatrixRef points);
  // Given d objective / d start for the last forward(): d objective / d base and / d weights.
  void backward(const Vector& start_gradient, Vector& base_gradient, Vector& weight_gradient);

 private:
  SetEncoderShape shape_;
  Encoder point_, head_;
  std::vector<InducedAttention> blocks_;  // the B induced-attention blocks
  Index point_size_, block_size_, attention_size_, seeds_size_, head_size_;  // block: one ISAB's
  double scale_;  // 1 / sqrt(h)
  // The last forward()'s inputs and intermediates.
  Vector base_, point_weights_, head_weights_;
  const double* attention_weights_ = nullptr;  // the B blocks' weights in the last forward()'s vector
  Eigen::Map<const Vector> block_weights(Index b) const;
  RowMatrix seeds_, points_, attention_, head_input_, pooled_points_;
  const RowMatrix* embedded_ = nullptr;  // H
  double gate_ = 0.0;
  Vector start_;
  // backward()'s scratch.
  RowMatrix head_gradient_, head_input_gradient_, attention_gradient_, embedding_gradient_, below_gradient_;
  Vector weight_scratch_;
};

}  // namespace metagmm::meta
