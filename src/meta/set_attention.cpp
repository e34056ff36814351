#include "metagmm/meta/set_attention.hpp"

#include <cmath>
#include <string>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/kernels.hpp"

namespace metagmm::meta {
namespace {

using ConstWeights = Eigen::Map<const RowMatrix>;
using Weights = Eigen::Map<RowMatrix>;

// The five h x h matrices' and the bias's offsets in an AttentionBlock's weights.
enum Projection : Index { query = 0, key = 1, value = 2, hidden = 3, output = 4 };
struct BlockLayout {
  Index h;
  Index matrix(Projection which) const { return which * h * h; }
  Index bias() const { return 5 * h * h; }
};

}  // namespace

void AttentionShape::validate() const {
  if (width < 1 || heads < 1 || inducing < 1)
    throw InputError("set attention: the width, the heads and the inducing points must be >= 1");
  if (width % heads != 0)
    throw InputError("set attention: " + std::to_string(heads) + " heads do not divide the embedding width " +
                     std::to_string(width) + " (each head takes width / heads columns)");
}

AttentionBlock::AttentionBlock(const AttentionShape& shape)
    : shape_((shape.validate(), shape)),
      scale_(1.0 / std::sqrt(static_cast<double>(shape.width))),
      attention_(static_cast<std::size_t>(shape.heads)) {}

void AttentionBlock::initial_weights(const AttentionShape& shape, RandomStream& random, Eigen::Ref<Vector> weights) {
  METAGMM_CHECK(weights.size() == shape.block_parameter_count(), "attention block: weight count");
  const Index h = shape.width;
  const double sd = 1.0 / std::sqrt(static_cast<double>(h));
  const BlockLayout at{h};
  weights.setZero();
  for (Index i = 0; i < 2 * h * h; ++i) weights[at.matrix(query) + i] = sd * random.normal();  // Wq, Wk
  for (Index i = 0; i < h * h; ++i) weights[at.matrix(hidden) + i] = std::sqrt(2.0) * sd * random.normal();
}

const RowMatrix& AttentionBlock::forward(Eigen::Ref<const Vector> weights, RowMatrixRef queries, RowMatrixRef keys) {
  const Index h = shape_.width, width = h / shape_.heads;
  const BlockLayout at{h};
  METAGMM_CHECK(weights.size() == shape_.block_parameter_count(), "attention block: weight count");
  METAGMM_CHECK(queries.cols() == h && keys.cols() == h && keys.rows() >= 1, "attention block: input shape");
  queries_ = queries;
  keys_ = keys;
  const auto matrix = [&](Projection which) { return ConstWeights(weights.data() + at.matrix(which), h, h); };
  q_.resize(queries_.rows(), h);
  k_.resize(keys_.rows(), h);
  v_.resize(keys_.rows(), h);
  gmm::multiply_in_cache(false, queries_, false, matrix(query), q_);
  gmm::multiply_in_cache(false, keys_, false, matrix(key), k_);
  gmm::multiply_in_cache(false, keys_, false, matrix(value), v_);
  o_ = queries_;
  for (Index g = 0; g < shape_.heads; ++g) {
    RowMatrix& a = attention_[static_cast<std::size_t>(g)];
    a.resize(queries_.rows(), keys_.rows());
    gmm::multiply_in_cache(false, q_.middleCols(g * width, width), true, k_.middleCols(g * width, width), a, false, scale_);
    for (Index i = 0; i < a.rows(); ++i) {  // each query's softmax over the keys, shifted by its maximum
      auto row = a.row(i);
      row = (row.array() - row.maxCoeff()).exp();
      row /= row.sum();
    }
    gmm::multiply_in_cache(false, a, false, v_.middleCols(g * width, width), o_.middleCols(g * width, width), true);
  }
  pre_.resize(o_.rows(), h);
  gmm::multiply_in_cache(false, o_, false, matrix(hidden), pre_);
  pre_.rowwise() += weights.segment(at.bias(), h).transpose();
  hidden_ = pre_.cwiseMax(0.0);
  out_ = o_;
  gmm::multiply_in_cache(false, hidden_, false, matrix(output), out_, true);
  return out_;
}

void AttentionBlock::backward(Eigen::Ref<const Vector> weights, const RowMatrix& output_gradient,
                              Eigen::Ref<Vector> weight_gradient, RowMatrix& query_gradient, RowMatrix& key_gradient) {
  const Index h = shape_.width, width = h / shape_.heads;
  const BlockLayout at{h};
  METAGMM_CHECK(output_gradient.rows() == out_.rows() && output_gradient.cols() == h, "attention block: gradient");
  METAGMM_CHECK(weight_gradient.size() == shape_.block_parameter_count(), "attention block: gradient count");
  const auto matrix = [&](Projection which) { return ConstWeights(weights.data() + at.matrix(which), h, h); };
  const auto gradient = [&](Projection which) { return Weights(weight_gradient.data() + at.matrix(which), h, h); };
  // out = O + relu(P) W2, P = O W1 + b1.
  gmm::multiply_in_cache(true, hidden_, false, output_gradient, gradient(output));
  pre_gradient_.resize(pre_.rows(), h);
  gmm::multiply_in_cache(false, output_gradient, true, matrix(output), pre_gradient_);
  pre_gradient_.array() *= (pre_.array() > 0.0).cast<double>();
  gmm::multiply_in_cache(true, o_, false, pre_gradient_, gradient(hidden));
  weight_gradient.segment(at.bias(), h) = pre_gradient_.colwise().sum().transpose();
  o_gradient_ = output_gradient;
  gmm::multiply_in_cache(false, pre_gradient_, true, matrix(hidden), o_gradient_, true);
  // O = Q + A_g v_g per head; A_g = softmax(scale q_g k_g^T).
  q_gradient_.resize(q_.rows(), h);
  k_gradient_.resize(k_.rows(), h);
  v_gradient_.resize(v_.rows(), h);
  for (Index g = 0; g < shape_.heads; ++g) {
    const RowMatrix& a = attention_[static_cast<std::size_t>(g)];
    const auto o_g = o_gradient_.middleCols(g * width, width);
    gmm::multiply_in_cache(true, a, false, o_g, v_gradient_.middleCols(g * width, width));
    score_gradient_.resize(a.rows(), a.cols());
    gmm::multiply_in_cache(false, o_g, true, v_.middleCols(g * width, width), score_gradient_);  // dL/dA
    for (Index i = 0; i < a.rows(); ++i) {  // through each row's softmax
      const double mean = a.row(i).dot(score_gradient_.row(i));
      score_gradient_.row(i) = a.row(i).cwiseProduct((score_gradient_.row(i).array() - mean).matrix());
    }
    gmm::multiply_in_cache(false, score_gradient_, false, k_.middleCols(g * width, width), q_gradient_.middleCols(g * width, width),
                  false, scale_);
    gmm::multiply_in_cache(true, score_gradient_, false, q_.middleCols(g * width, width), k_gradient_.middleCols(g * width, width),
                  false, scale_);
  }
  // q = Q Wq, k = K Wk, v = K Wv; Q also directly (the residual).
  gmm::multiply_in_cache(true, queries_, false, q_gradient_, gradient(query));
  gmm::multiply_in_cache(true, keys_, false, k_gradient_, gradient(key));
  gmm::multiply_in_cache(true, keys_, false, v_gradient_, gradient(value));
  query_gradient = o_gradient_;
  gmm::multiply_in_cache(false, q_gradient_, true, matrix(query), query_gradient, true);
  key_gradient.resize(keys_.rows(), h);
  gmm::multiply_in_cache(false, k_gradient_, true, matrix(key), key_gradient);
  gmm::multiply_in_cache(false, v_gradient_, true, matrix(value), key_gradient, true);
}

InducedAttention::InducedAttention(const AttentionShape& shape) : shape_(shape), summarise_(shape), read_(shape) {}

void InducedAttention::initial_weights(const AttentionShape& shape, RandomStream& random, Eigen::Ref<Vector> weights) {
  shape.validate();
  METAGMM_CHECK(weights.size() == shape.parameter_count(), "induced attention: weight count");
  const Index inducing = shape.inducing * shape.width, block = shape.block_parameter_count();
  for (Index i = 0; i < inducing; ++i) weights[i] = random.normal();
  AttentionBlock::initial_weights(shape, random, weights.segment(inducing, block));
  AttentionBlock::initial_weights(shape, random, weights.segment(inducing + block, block));
}

const RowMatrix& InducedAttention::forward(Eigen::Ref<const Vector> weights, RowMatrixRef points) {
  METAGMM_CHECK(weights.size() == shape_.parameter_count(), "induced attention: weight count");
  const Index inducing = shape_.inducing * shape_.width, block = shape_.block_parameter_count();
  const ConstWeights rows(weights.data(), shape_.inducing, shape_.width);
  const RowMatrix& summary = summarise_.forward(weights.segment(inducing, block), rows, points);
  return read_.forward(weights.segment(inducing + block, block), points, summary);
}

void InducedAttention::backward(Eigen::Ref<const Vector> weights, const RowMatrix& output_gradient,
                                Eigen::Ref<Vector> weight_gradient, RowMatrix& points_gradient) {
  const Index inducing = shape_.inducing * shape_.width, block = shape_.block_parameter_count();
  read_.backward(weights.segment(inducing + block, block), output_gradient,
                 weight_gradient.segment(inducing + block, block), points_gradient, summary_gradient_);
  summarise_.backward(weights.segment(inducing, block), summary_gradient_, weight_gradient.segment(inducing, block),
                      inducing_gradient_, points_gradient_);
  weight_gradient.head(inducing) = Eigen::Map<const Vector>(inducing_gradient_.data(), inducing);
  points_gradient += points_gradient_;
}

}  // namespace metagmm::meta
