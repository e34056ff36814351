// The ProtoNet encoder: forward pass against a direct computation, backpropagation against
// central differences, He initialisation's scale.
#include <gtest/gtest.h>

#include <cmath>

#include "metagmm/core/error.hpp"
#include "metagmm/meta/encoder.hpp"
#include "support.hpp"

namespace metagmm::meta {
namespace {

// Central differences of L = sum(C .* f_phi(X)) with h = 1e-6. Along one weight the network is
// linear between the ReLUs' kinks (each weight enters one affine map, and the rest is linear
// once the activation pattern is fixed), so the difference has no truncation error; rounding
// gives ~1e-16 |L| / h ~ 1e-10 relative. A wrong backpropagation term is off by O(1).
constexpr double kGradientTolerance = 1e-7;
constexpr double kStep = 1e-6;

RowMatrix random_matrix(Index rows, Index cols, RandomStream& random) {
  RowMatrix m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = random.normal();
  return m;
}

TEST(Encoder, ForwardIsAffineLayersWithReluBetween) {
  const EncoderShape shape{2, {3, 2}};
  RandomStream random(1, StreamPurpose::test);
  const Vector phi = Vector::NullaryExpr(shape.parameter_count(), [&](Index) { return random.normal(); });
  const RowMatrix x = random_matrix(4, 2, random);
  Encoder encoder(shape);
  const RowMatrix z = encoder.forward(phi, x);
  ASSERT_EQ(z.rows(), 4);
  ASSERT_EQ(z.cols(), 2);
  // By hand: phi = [W1 (3x2) | b1 (3) | W2 (2x3) | b2 (2)].
  for (Index n = 0; n < 4; ++n) {
    double hidden[3];
    for (int i = 0; i < 3; ++i) {
      const double pre = phi[2 * i] * x(n, 0) + phi[2 * i + 1] * x(n, 1) + phi[6 + i];
      hidden[i] = pre > 0.0 ? pre : 0.0;
    }
    for (int o = 0; o < 2; ++o) {
      const double out = phi[9 + 3 * o] * hidden[0] + phi[10 + 3 * o] * hidden[1] + phi[11 + 3 * o] * hidden[2] +
                         phi[15 + o];
      EXPECT_NEAR(z(n, o), out, 1e-14 * (1.0 + std::abs(out)));  // no ReLU after the last layer
    }
  }
}

TEST(Encoder, BackpropagationMatchesCentralDifferences) {
  for (const auto& widths : {std::vector<Index>{4}, std::vector<Index>{7, 3}, std::vector<Index>{8, 6, 5}}) {
    const EncoderShape shape{5, widths};
    RandomStream random(2, StreamPurpose::test);
    Vector phi = he_initial_weights(shape, random);
    for (Index i = 0; i < phi.size(); ++i) phi[i] += 0.1 * random.normal();  // biases too: mixed ReLU patterns
    const RowMatrix x = random_matrix(20, 5, random);
    const RowMatrix c = random_matrix(20, shape.output(), random);
    Encoder encoder(shape);
    auto loss = [&](const Vector& weights) { return encoder.forward(weights, x).cwiseProduct(c).sum(); };
    Vector numeric(phi.size());
    for (Index i = 0; i < phi.size(); ++i) {
      Vector up = phi, down = phi;
      up[i] += kStep;
      down[i] -= kStep;
      numeric[i] = (loss(up) - loss(down)) / (2.0 * kStep);
    }
    encoder.forward(phi, x);
    Vector analytic;
    encoder.backward(phi, c, analytic);
    const double error = testing::relative_difference(analytic, numeric);
    std::cout << "[ encoder ] " << widths.size() << " layers: relative error " << error << "\n";
    EXPECT_LE(error, kGradientTolerance);
  }
}

TEST(Encoder, HeInitialisationScalesByFanIn) {
  const EncoderShape shape{400, {300, 2}};
  RandomStream random(3, StreamPurpose::test);
  const Vector phi = he_initial_weights(shape, random);
  const auto first = phi.head(400 * 300);
  // 120 000 draws: the sample variance is within 2% of 2 / 400 (its standard error is 0.4%).
  EXPECT_NEAR(first.squaredNorm() / static_cast<double>(first.size()), 2.0 / 400.0, 0.02 * 2.0 / 400.0);
  EXPECT_TRUE(phi.segment(400 * 300, 300).isZero());  // biases
  EXPECT_EQ(phi.size(), shape.parameter_count());
}

// The identity start: s x + g((x - offset) / scale), g's last layer at zero.
EncoderShape residual_shape(Index d, std::vector<Index> widths) {
  EncoderShape shape{d, std::move(widths)};
  shape.residual = true;
  shape.skip_scale = 0.25;
  for (Index j = 0; j < d; ++j) {
    shape.input_offset.push_back(0.5 * static_cast<double>(j));
    shape.input_scale.push_back(1.0 + static_cast<double>(j));
  }
  return shape;
}

TEST(Encoder, IdentityStartIsTheInputsScaledExactly) {
  const EncoderShape shape = residual_shape(5, {7, 5});
  RandomStream random(4, StreamPurpose::test);
  const Vector phi = identity_start_weights(shape, random);
  EXPECT_GT(phi.head(7 * 5).norm(), 0.0);  // the hidden layer is He-initialised
  const RowMatrix x = 16.0 * random_matrix(30, 5, random);
  Encoder encoder(shape);
  const RowMatrix z = encoder.forward(phi, x);
  // Bit for bit: multiplying by a power of two is exact, and g adds exactly zero.
  EXPECT_EQ(z, RowMatrix(0.25 * x));
}

TEST(Encoder, ResidualStandardisedBackpropagationMatchesCentralDifferences) {
  const EncoderShape shape = residual_shape(5, {8, 5});
  RandomStream random(5, StreamPurpose::test);
  Vector phi = he_initial_weights(shape, random);
  for (Index i = 0; i < phi.size(); ++i) phi[i] += 0.1 * random.normal();
  const RowMatrix x = random_matrix(20, 5, random);
  const RowMatrix c = random_matrix(20, 5, random);
  Encoder encoder(shape);
  auto loss = [&](const Vector& weights, const RowMatrix& points) {
    return encoder.forward(weights, points).cwiseProduct(c).sum();
  };
  Vector numeric(phi.size());
  for (Index i = 0; i < phi.size(); ++i) {
    Vector up = phi, down = phi;
    up[i] += kStep;
    down[i] -= kStep;
    numeric[i] = (loss(up, x) - loss(down, x)) / (2.0 * kStep);
  }
  RowMatrix numeric_input(x.rows(), x.cols());
  for (Index i = 0; i < x.size(); ++i) {
    RowMatrix up = x, down = x;
    up.data()[i] += kStep;
    down.data()[i] -= kStep;
    numeric_input.data()[i] = (loss(phi, up) - loss(phi, down)) / (2.0 * kStep);
  }
  encoder.forward(phi, x);
  Vector analytic;
  RowMatrix analytic_input;
  encoder.backward(phi, c, analytic, &analytic_input);
  EXPECT_LE(testing::relative_difference(analytic, numeric), kGradientTolerance);
  EXPECT_LE(testing::relative_difference(analytic_input, numeric_input), kGradientTolerance);
}

TEST(Encoder, RefusesImpossibleShapes) {
  EXPECT_THROW(Encoder(EncoderShape{3, {}}), InputError);
  EXPECT_THROW(Encoder(EncoderShape{3, {4, 0}}), InputError);
  EXPECT_THROW(Encoder(EncoderShape{0, {4}}), InputError);
  EncoderShape wide = residual_shape(3, {4, 4});  // the identity start needs the last width d
  EXPECT_THROW(Encoder{wide}, InputError);
  EncoderShape skewed = residual_shape(3, {4, 3});
  skewed.skip_scale = 0.3;  // not a power of two: the start would not be exact
  EXPECT_THROW(Encoder{skewed}, InputError);
  EncoderShape flat = residual_shape(3, {4, 3});
  flat.input_scale[1] = 0.0;
  EXPECT_THROW(Encoder{flat}, InputError);
}

TEST(Encoder, PowerOfTwoNearIsExactAndNearest) {
  EXPECT_EQ(power_of_two_near(1.0), 1.0);
  EXPECT_EQ(power_of_two_near(0.2), 0.25);
  EXPECT_EQ(power_of_two_near(5.0), 4.0);
  EXPECT_EQ(power_of_two_near(7.0), 8.0);
}

}  // namespace
}  // namespace metagmm::meta
