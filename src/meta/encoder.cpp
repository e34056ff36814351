#include "metagmm/meta/encoder.hpp"

#include <cmath>
#include <sstream>
#include <string>
#include <utility>

#include "metagmm/core/error.hpp"
#include "metagmm/core/text.hpp"
#include "metagmm/gmm/kernels.hpp"

namespace metagmm::meta {
namespace {

using WeightMap = Eigen::Map<const RowMatrix>;

}  // namespace

Index EncoderShape::parameter_count() const {
  Index count = 0;
  for (Index l = 0; l < layers(); ++l) count += (layer_input(l) + 1) * widths[static_cast<std::size_t>(l)];
  return count;
}

void EncoderShape::validate() const {
  if (input < 1) throw InputError("encoder: the input dimension must be >= 1");
  if (widths.empty()) throw InputError("encoder: at least one layer is needed");
  for (const Index w : widths)
    if (w < 1) throw InputError("encoder: every layer width must be >= 1, got " + std::to_string(w));
  if (residual && widths.back() != input) {
    throw InputError("encoder: an identity start (x + g(x)) needs the last layer width equal to the input "
                     "dimension d = " + std::to_string(input) + ", got " + std::to_string(widths.back()));
  }
  int exponent = 0;
  if (!std::isfinite(skip_scale) || std::frexp(skip_scale, &exponent) != 0.5)
    throw InputError("encoder: the skip scale must be a power of two, got " + std::to_string(skip_scale));
  const auto d = static_cast<std::size_t>(input);
  if (standardised() && (input_offset.size() != d || input_scale.size() != d))
    throw InputError("encoder: the input standardisation needs " + std::to_string(input) + " offsets and scales");
  for (std::size_t j = 0; j < input_offset.size(); ++j) {
    if (!std::isfinite(input_offset[j]) || !(input_scale[j] > 0.0) || !std::isfinite(input_scale[j]))
      throw InputError("encoder: input standardisation " + std::to_string(j + 1) + ": expected a finite offset and a scale > 0");
  }
}

std::vector<Index> parse_widths(const std::string& text, const std::string& option) {
  std::vector<Index> widths;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    const auto width = parse_integer(part);
    if (!width || *width < 1)
      throw InputError(option + ": expected layer widths >= 1 separated by commas (\"64,64\"), got '" + text + "'");
    widths.push_back(static_cast<Index>(*width));
  }
  if (widths.empty()) throw InputError(option + ": expected at least one layer width");
  return widths;
}

Vector he_initial_weights(const EncoderShape& shape, RandomStream& random) {
  shape.validate();
  Vector phi = Vector::Zero(shape.parameter_count());
  Index at = 0;
  for (Index l = 0; l < shape.layers(); ++l) {
    const Index in = shape.layer_input(l), out = shape.widths[static_cast<std::size_t>(l)];
    const double scale = std::sqrt(2.0 / static_cast<double>(in));
    for (Index i = 0; i < out * in; ++i) phi[at + i] = scale * random.normal();
    at += out * in + out;  // the biases stay zero
  }
  return phi;
}

double power_of_two_near(double value) {
  METAGMM_CHECK(value > 0.0 && std::isfinite(value), "power_of_two_near: a positive number");
  return std::exp2(std::round(std::log2(value)));
}

Vector identity_start_weights(const EncoderShape& shape, RandomStream& random) {
  Vector phi = he_initial_weights(shape, random);
  const Index last = shape.layers() - 1;
  const Index last_size = (shape.layer_input(last) + 1) * shape.widths.back();
  phi.tail(last_size).setZero();
  return phi;
}

Vector initial_encoder_weights(const EncoderShape& shape, RandomStream& random) {
  return shape.residual ? identity_start_weights(shape, random) : he_initial_weights(shape, random);
}

Encoder::Encoder(EncoderShape shape) : shape_(std::move(shape)) {
  shape_.validate();
  if (shape_.standardised()) {
    offset_ = Eigen::Map<const Eigen::RowVectorXd>(shape_.input_offset.data(), shape_.input);
    inverse_scale_ = Eigen::Map<const Eigen::RowVectorXd>(shape_.input_scale.data(), shape_.input).cwiseInverse();
  }
  Index at = 0;
  for (Index l = 0; l < shape_.layers(); ++l) {
    offsets_.push_back(at);
    at += (shape_.layer_input(l) + 1) * shape_.widths[static_cast<std::size_t>(l)];
  }
  inputs_.resize(shape_.widths.size());
  pre_.resize(shape_.widths.size());
}

const RowMatrix& Encoder::input(Index layer) const {
  return layer == 0 ? *points_ : inputs_[static_cast<std::size_t>(layer)];
}

const RowMatrix& Encoder::forward(const Vector& phi, const RowMatrix& points) {
  METAGMM_CHECK(phi.size() == shape_.parameter_count(), "encoder: weight count");
  METAGMM_CHECK(points.cols() == shape_.input, "encoder: input dimension");
  points_ = &points;
  if (shape_.standardised()) {
    standardised_ = (points.rowwise() - offset_).array().rowwise() * inverse_scale_.array();
    points_ = &standardised_;
  }
  for (Index l = 0; l < shape_.layers(); ++l) {
    const auto layer = static_cast<std::size_t>(l);
    const Index in = shape_.layer_input(l), out = shape_.widths[layer];
    const WeightMap w(phi.data() + offsets_[layer], out, in);
    const auto b = phi.segment(offsets_[layer] + out * in, out).transpose();
    if (l > 0) inputs_[layer] = pre_[layer - 1].cwiseMax(0.0);  // ReLU
    pre_[layer].resize(input(l).rows(), out);
    gmm::multiply_in_cache(false, input(l), true, w, pre_[layer]);
    pre_[layer].rowwise() += b;
  }
  if (!shape_.residual) return pre_.back();
  output_ = shape_.skip_scale * points + pre_.back();
  return output_;
}

void Encoder::backward(const Vector& phi, const RowMatrix& output_gradient, Vector& gradient,
                       RowMatrix* input_gradient) {
  const auto last = shape_.widths.size() - 1;
  METAGMM_CHECK(output_gradient.rows() == pre_[last].rows() && output_gradient.cols() == pre_[last].cols(),
                "encoder: output gradient shape");
  gradient.resize(phi.size());
  delta_ = output_gradient;  // the last layer has no ReLU
  for (Index l = shape_.layers() - 1; l >= 0; --l) {
    const auto layer = static_cast<std::size_t>(l);
    const Index in = shape_.layer_input(l), out = shape_.widths[layer];
    Eigen::Map<RowMatrix> weight_gradient(gradient.data() + offsets_[layer], out, in);
    gmm::multiply_in_cache(true, delta_, false, input(l), weight_gradient);
    gradient.segment(offsets_[layer] + out * in, out) = delta_.colwise().sum().transpose();
    const WeightMap w(phi.data() + offsets_[layer], out, in);
    if (l == 0) {
      if (input_gradient) {
        input_gradient->resize(delta_.rows(), in);
        gmm::multiply_in_cache(false, delta_, false, w, *input_gradient);
        if (shape_.standardised()) input_gradient->array().rowwise() *= inverse_scale_.array();
        if (shape_.residual) *input_gradient += shape_.skip_scale * output_gradient;  // the skip connection
      }
      break;
    }
    // Through W, then the previous layer's ReLU: zero where its input was not positive.
    upstream_.resize(delta_.rows(), in);
    gmm::multiply_in_cache(false, delta_, false, w, upstream_);
    delta_ = (pre_[layer - 1].array() > 0.0).select(upstream_, 0.0);
  }
}

}  // namespace metagmm::meta
