#pragma once
// The encoder f_phi of Prototypical Networks (docs/design.md, "ProtoNet"): a multilayer perceptron
// R^d -> R^e, affine layers with ReLU between them and none after the last, on Eigen, with
// exact backpropagation. Its weights phi are a flat vector, layer by layer: W (out x in, row
// by row) then b (out), so that the training loop and the checkpoints treat them like any
// other meta-parameters.
// Two fixed (not learned) parts make an encoder that starts where the raw features are:
//   - input standardisation: the perceptron reads (x - offset) / scale, the training split's mean
//     and standard deviation, so that pixels of 0..16 do not saturate it;
//   - a residual connection: f(x) = s x + g(x), g the perceptron (its last width is d) and s a
//     power of two near 1 / (the inputs' typical deviation). With g's last layer at zero
//     (identity_start_weights) f is exactly x scaled by s at step 0: multiplying by a power of
//     two is exact, so every distance is the raw one times s^2 and the prototypes classify
//     exactly as on the raw features; the scale only keeps the softmax from saturating. Training
//     starts from raw-feature prototypes and moves away only where episodes say so.
#include <string>
#include <vector>

#include "metagmm/core/random.hpp"
#include "metagmm/core/types.hpp"

namespace metagmm::meta {

struct EncoderShape {
  Index input = 1;            // d
  std::vector<Index> widths;  // each layer's output width; the last is the embedding's e
  bool residual = false;      // f(x) = s x + g(x): needs widths.back() == input
  double skip_scale = 1.0;    // s, a power of two
  std::vector<double> input_offset{}, input_scale{};  // empty: none; else d each, every scale > 0
  Index layers() const { return static_cast<Index>(widths.size()); }
  Index output() const { return widths.empty() ? input : widths.back(); }
  Index layer_input(Index layer) const { return layer == 0 ? input : widths[static_cast<std::size_t>(layer - 1)]; }
  Index parameter_count() const;
  bool standardised() const { return !input_offset.empty(); }
  void validate() const;  // InputError: at least one layer, every width >= 1, residual widths, scales
  bool operator==(const EncoderShape&) const = default;
};

// "64,64" -> {64, 64}; InputError naming `option` otherwise.
std::vector<Index> parse_widths(const std::string& text, const std::string& option);

// He initialisation: each W entry normal with variance 2 / (its layer's input width), b = 0.
Vector he_initial_weights(const EncoderShape& shape, RandomStream& random);
// The power of two nearest `value` (> 0) on a log scale: an exact scale factor.
double power_of_two_near(double value);
// He initialisation with the last layer at zero: a residual encoder then starts exactly at the
// identity (and its gradient at step 0 reaches the last layer only, which moves first).
Vector identity_start_weights(const EncoderShape& shape, RandomStream& random);
// What an encoder of this shape starts from: identity_start_weights for a residual one.
Vector initial_encoder_weights(const EncoderShape& shape, RandomStream& random);

class Encoder {
 public:
  explicit Encoder(EncoderShape shape);
  const EncoderShape& shape() const { return shape_; }
  // Z = f_phi(X), one row per row of X; valid until the next call. Keeps what backward needs,
  // the points by reference (not copied): they must stay as they are until backward().
  const RowMatrix& forward(const Vector& phi, const RowMatrix& points);
  const RowMatrix& forward(const Vector& phi, RowMatrix&& points) = delete;  // would not outlive the call
  // dL/dphi for the last forward(), given dL/dZ (same shape as Z); with `input_gradient`, also
  // dL/dX (a set encoder's head passes its input's gradient on to the pooling below it).
  void backward(const Vector& phi, const RowMatrix& output_gradient, Vector& gradient,
                RowMatrix* input_gradient = nullptr);

 private:
  const RowMatrix& input(Index layer) const;  // layer's input in the last forward()

  EncoderShape shape_;
  std::vector<Index> offsets_;         // where each layer's W starts in phi
  const RowMatrix* points_ = nullptr;  // the first layer's input: the points, or standardised_
  Eigen::RowVectorXd offset_, inverse_scale_;// the input standardisation (when the shape has one)
  RowMatrix standardised_;             // (points - offset) / scale in the last forward()
  RowMatrix output_;                   // a residual encoder's x + g(x)
  std::vector<RowMatrix> inputs_;      // each later layer's input, a ReLU output (inputs_[0] unused)
  std::vector<RowMatrix> pre_;         // each layer's affine output, before the ReLU
  RowMatrix delta_;                    // backward: dL/d(pre-activation) of the current layer
  RowMatrix upstream_;                 // backward: dL/d(the current layer's input)
};

}  // namespace metagmm::meta
