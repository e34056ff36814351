#pragma once
// Attention between the points of a set, for the set encoder (meta/set_encoder.hpp): the Set
// Transformer's blocks (Lee et al., ICML 2019), with exact backpropagation. Without them each
// point's embedding depends on that point alone, and pooling cannot tell where the clusters are
// (a point cannot know which others lie near it); with them each embedding has seen the set.
//
//   AttentionBlock  MAB(Q, K) = O + relu(O W1 + b1) W2,
//                   O = Q + [softmax_rows(Q Wq_g (K Wk_g)^T / sqrt(h)) K Wv_g]_g
//                   for each head g (a slice of h / heads columns): the paper's MAB without layer
//                   normalisation (its amortised-clustering setting), with residuals on the
//                   inputs themselves so that Wv = W2 = 0 makes the block the identity on Q.
//   InducedAttention ISAB(X) = MAB(X, MAB(I, X)): m learned inducing rows I attend over the n
//                   points, then each point attends over those m summaries: O(n m) attention
//                   instead of self-attention's O(n^2).
//
// Weights are flat: an AttentionBlock's Wq, Wk, Wv, W1, W2 (h x h each, row by row, acting on
// rows as X W) then b1 (h); an InducedAttention's I (m x h, row by row), then its two blocks.
// Initially Wv = W2 = 0, so an ISAB is the identity and a set encoder with attention starts as
// the one without (it trained unstably from the paper's random projections on both paths:
// validation log-likelihood -2.8 after 1 000 steps where the encoder without attention had -1.64).
#include "metagmm/core/random.hpp"
#include "metagmm/core/types.hpp"

namespace metagmm::meta {

struct AttentionShape {
  Index width = 64;     // h: the rows' width, in and out
  Index heads = 4;      // the attention's heads, each on h / heads columns
  Index inducing = 16;  // m: an InducedAttention's inducing rows
  Index block_parameter_count() const { return 5 * width * width + width; }
  Index parameter_count() const { return inducing * width + 2 * block_parameter_count(); }  // ISAB
  void validate() const;  // InputError: widths >= 1, heads dividing h
  bool operator==(const AttentionShape&) const = default;
};

class AttentionBlock {
 public:
  explicit AttentionBlock(const AttentionShape& shape);
  // Wq, Wk normal with variance 1 / h, W1 with 2 / h (He), Wv = W2 = b1 = 0: the identity on Q.
  static void initial_weights(const AttentionShape& shape, RandomStream& random, Eigen::Ref<Vector> weights);
  // MAB(queries, keys), one row per query; valid until the next call. Copies what backward needs.
  const RowMatrix& forward(Eigen::Ref<const Vector> weights, RowMatrixRef queries, RowMatrixRef keys);
  // Given dL/d(output) of the last forward(): dL/d(weights) (written), dL/d(queries) and
  // dL/d(keys) (written, resized).
  void backward(Eigen::Ref<const Vector> weights, const RowMatrix& output_gradient, Eigen::Ref<Vector> weight_gradient,
                RowMatrix& query_gradient, RowMatrix& key_gradient);

 private:
  AttentionShape shape_;
  double scale_;  // 1 / sqrt(h)
  RowMatrix queries_, keys_, q_, k_, v_, o_, pre_, hidden_, out_;
  std::vector<RowMatrix> attention_;  // per head, queries x keys
  RowMatrix o_gradient_, pre_gradient_, q_gradient_, k_gradient_, v_gradient_, score_gradient_;
};

class InducedAttention {
 public:
  explicit InducedAttention(const AttentionShape& shape);
  // I standard normal, then both blocks' initial weights.
  static void initial_weights(const AttentionShape& shape, RandomStream& random, Eigen::Ref<Vector> weights);
  // ISAB(points): n x h from n x h; valid until the next call.
  const RowMatrix& forward(Eigen::Ref<const Vector> weights, RowMatrixRef points);
  // dL/d(weights) (written) and dL/d(points) (written, resized) for the last forward().
  void backward(Eigen::Ref<const Vector> weights, const RowMatrix& output_gradient, Eigen::Ref<Vector> weight_gradient,
                RowMatrix& points_gradient);

 private:
  AttentionShape shape_;
  AttentionBlock summarise_, read_;  // MAB(I, X), then MAB(X, H)
  RowMatrix summary_gradient_, inducing_gradient_, points_gradient_;
};

}  // namespace metagmm::meta
