#include "metagmm/meta/set_encoder.hpp"

#include <cmath>
#include <string>

#include "metagmm/core/error.hpp"
#include "metagmm/gmm/kernels.hpp"

namespace metagmm::meta {

EncoderShape SetEncoderShape::head_shape() const {
  EncoderShape head{2 * embedding() + mixture.dim, head_widths};
  head.widths.push_back(1 + 2 * mixture.dim);
  return head;
}

Index SetEncoderShape::parameter_count() const {
  return point_shape().parameter_count() + attention_parameter_count() + mixture.components * embedding() +
         head_shape().parameter_count() + 1;
}

void SetEncoderShape::validate() const {
  if (mixture.covariance != gmm::CovarianceType::diag)
    throw InputError("set encoder: it proposes diagonal mixtures, got " + gmm::to_string(mixture.covariance));
  point_shape().validate();
  if (attention_blocks < 0)
    throw InputError("set encoder: the attention blocks must be >= 0, got " + std::to_string(attention_blocks));
  if (attention_blocks > 0) attention_shape().validate();
  for (const Index w : head_widths)
    if (w < 1) throw InputError("set encoder: every head width must be >= 1, got " + std::to_string(w));
}

SetEncoder::SetEncoder(SetEncoderShape shape)
    : shape_((shape.validate(), std::move(shape))),
      point_(shape_.point_shape()),
      head_(shape_.head_shape()),
      point_size_(shape_.point_shape().parameter_count()),
      block_size_(shape_.attention_shape().parameter_count()),
      attention_size_(shape_.attention_parameter_count()),
      seeds_size_(shape_.mixture.components * shape_.embedding()),
      head_size_(shape_.head_shape().parameter_count()),
      scale_(1.0 / std::sqrt(static_cast<double>(shape_.embedding()))) {
  for (Index b = 0; b < shape_.attention_blocks; ++b) blocks_.emplace_back(shape_.attention_shape());
}

Vector SetEncoder::initial_weights(const SetEncoderShape& shape, RandomStream& random) {
  shape.validate();
  const EncoderShape head = shape.head_shape();
  Vector weights = Vector::Zero(shape.parameter_count());
  const Index point_size = shape.point_shape().parameter_count();
  const Index seeds_size = shape.mixture.components * shape.embedding();
  weights.head(point_size) = he_initial_weights(shape.point_shape(), random);
  const Index block_size = shape.attention_shape().parameter_count();
  for (Index b = 0; b < shape.attention_blocks; ++b)
    InducedAttention::initial_weights(shape.attention_shape(), random,
                                      weights.segment(point_size + b * block_size, block_size));
  const Index seeds_at = point_size + shape.attention_parameter_count();
  for (Index i = 0; i < seeds_size; ++i) weights[seeds_at + i] = random.normal();
  Vector head_weights = he_initial_weights(head, random);
  // The last layer (W then b) zero: the start is the base mixture until training moves it.
  const Index last = head.layer_input(head.layers() - 1), out = head.widths.back();
  head_weights.tail((last + 1) * out).setZero();
  weights.segment(seeds_at + seeds_size, head_weights.size()) = head_weights;
  return weights;  // g = 0
}

Eigen::Map<const Vector> SetEncoder::block_weights(Index b) const {
  return Eigen::Map<const Vector>(attention_weights_ + b * block_size_, block_size_);
}

const Vector& SetEncoder::forward(const Vector& base, Eigen::Ref<const Vector> weights, RowMatrixRef points) {
  const Index K = shape_.mixture.components, d = shape_.mixture.dim, h = shape_.embedding();
  const Index n = points.rows();
  METAGMM_CHECK(weights.size() == shape_.parameter_count(), "set encoder: weight count");
  METAGMM_CHECK(base.size() == shape_.mixture.parameter_count(), "set encoder: base mixture size");
  METAGMM_CHECK(points.cols() == d && n >= 1, "set encoder: points");
  base_ = base;
  point_weights_ = weights.head(point_size_);
  attention_weights_ = weights.data() + point_size_;
  seeds_ = Eigen::Map<const RowMatrix>(weights.data() + point_size_ + attention_size_, K, h);
  head_weights_ = weights.segment(point_size_ + attention_size_ + seeds_size_, head_size_);
  gate_ = weights[weights.size() - 1];
  points_ = points;

  embedded_ = &point_.forward(point_weights_, points_);  // n x h, the point encoder's until its next forward
  for (std::size_t b = 0; b < blocks_.size(); ++b)  // then each block's, until its next forward
    embedded_ = &blocks_[b].forward(block_weights(static_cast<Index>(b)), *embedded_);
  const RowMatrix& embedded = *embedded_;
  // Each seed's attention over the points: a softmax down each column, shifted by its maximum.
  attention_.resize(n, K);
  gmm::multiply_in_cache(false, embedded, true, seeds_, attention_, false, scale_);
  for (Index k = 0; k < K; ++k) {
    auto column = attention_.col(k);
    column = (column.array() - column.maxCoeff()).exp();
    column /= column.sum();
  }
  head_input_.resize(K, 2 * h + d);
  gmm::multiply_in_cache(true, attention_, false, embedded, head_input_.leftCols(h));
  head_input_.middleCols(h, h).rowwise() = embedded.colwise().mean();
  pooled_points_.resize(K, d);
  gmm::multiply_in_cache(true, attention_, false, points_, pooled_points_);
  head_input_.rightCols(d) = pooled_points_;
  const RowMatrix& out = head_.forward(head_weights_, head_input_);  // K x (1 + 2d)

  start_ = base_;
  for (Index k = 0; k < K; ++k) {
    start_[k] += out(k, 0);
    for (Index j = 0; j < d; ++j) {
      double& mean = start_[K + k * d + j];
      mean += gate_ * (pooled_points_(k, j) - base_[K + k * d + j]) + out(k, 1 + j);
      start_[K + K * d + k * d + j] += out(k, 1 + d + j);
    }
  }
  return start_;
}

void SetEncoder::backward(const Vector& start_gradient, Vector& base_gradient, Vector& weight_gradient) {
  const Index K = shape_.mixture.components, d = shape_.mixture.dim, h = shape_.embedding();
  const Index n = points_.rows();
  METAGMM_CHECK(start_gradient.size() == start_.size(), "set encoder: start gradient size");
  weight_gradient.setZero(shape_.parameter_count());
  base_gradient = start_gradient;
  head_gradient_.resize(K, 1 + 2 * d);
  double gate_gradient = 0.0;
  for (Index k = 0; k < K; ++k) {
    head_gradient_(k, 0) = start_gradient[k];
    for (Index j = 0; j < d; ++j) {
      const double mean_gradient = start_gradient[K + k * d + j];
      base_gradient[K + k * d + j] = (1.0 - gate_) * mean_gradient;
      gate_gradient += (pooled_points_(k, j) - base_[K + k * d + j]) * mean_gradient;
      head_gradient_(k, 1 + j) = mean_gradient;
      head_gradient_(k, 1 + d + j) = start_gradient[K + K * d + k * d + j];
    }
  }
  weight_gradient[weight_gradient.size() - 1] = gate_gradient;
  head_.backward(head_weights_, head_gradient_, weight_scratch_, &head_input_gradient_);
  weight_gradient.segment(point_size_ + attention_size_ + seeds_size_, head_size_) = weight_scratch_;

  // The pooled points' gradient: through the head, and directly through the gated mean.
  for (Index k = 0; k < K; ++k)
    for (Index j = 0; j < d; ++j) head_input_gradient_(k, 2 * h + j) += gate_ * start_gradient[K + k * d + j];
  const auto pooled_gradient = head_input_gradient_.leftCols(h);
  const auto points_gradient = head_input_gradient_.rightCols(d);
  const RowMatrix& embedded = *embedded_;
  // d/dA = H Zbar^T + X Xbarbar^T, then through each column's softmax.
  attention_gradient_.resize(n, K);
  gmm::multiply_in_cache(false, embedded, true, pooled_gradient, attention_gradient_);
  gmm::multiply_in_cache(false, points_, true, points_gradient, attention_gradient_, true);
  for (Index k = 0; k < K; ++k) {
    const double mean = attention_.col(k).dot(attention_gradient_.col(k));
    attention_gradient_.col(k) = attention_.col(k).cwiseProduct((attention_gradient_.col(k).array() - mean).matrix());
  }
  // The seeds: scores = scale H S^T.
  Eigen::Map<RowMatrix> seeds_gradient(weight_gradient.data() + point_size_ + attention_size_, K, h);
  gmm::multiply_in_cache(true, attention_gradient_, false, embedded, seeds_gradient, false, scale_);
  // The embedding: as values (A Zbar), in the scores (scale dS S) and through the mean pool.
  embedding_gradient_.resize(n, h);
  gmm::multiply_in_cache(false, attention_, false, pooled_gradient, embedding_gradient_);
  gmm::multiply_in_cache(false, attention_gradient_, false, seeds_, embedding_gradient_, true, scale_);
  embedding_gradient_.rowwise() +=
      head_input_gradient_.middleCols(h, h).colwise().sum() / static_cast<double>(n);
  for (std::size_t b = blocks_.size(); b-- > 0;) {  // back through the attention blocks
    const Index within = static_cast<Index>(b) * block_size_;
    blocks_[b].backward(block_weights(static_cast<Index>(b)), embedding_gradient_,
                        weight_gradient.segment(point_size_ + within, block_size_), below_gradient_);
    embedding_gradient_.swap(below_gradient_);
  }
  point_.backward(point_weights_, embedding_gradient_, weight_scratch_);
  weight_gradient.head(point_size_) = weight_scratch_;
}

}  // namespace metagmm::meta
