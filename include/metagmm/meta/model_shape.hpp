#pragma once
// What the model part of the meta-parameters is: a mixture, or an encoder (ProtoNet).
#include <optional>
#include <string>

#include "metagmm/gmm/params.hpp"
#include "metagmm/meta/encoder.hpp"

namespace metagmm::meta {

enum class ModelKind { mixture, encoder };

struct ModelShape {
  gmm::GmmShape mixture;
  std::optional<EncoderShape> encoder;
  ModelShape(const gmm::GmmShape& shape = {}) : mixture(shape) {}  // NOLINT: a mixture is a model
  explicit ModelShape(const EncoderShape& shape) : encoder(shape) {}
  ModelKind kind() const { return encoder ? ModelKind::encoder : ModelKind::mixture; }
  Index parameter_count() const { return encoder ? encoder->parameter_count() : mixture.parameter_count(); }
  // "4 diag components in 2 dimensions", "encoder 64-64-64".
  std::string describe() const;
  bool operator==(const ModelShape&) const = default;
};

}  // namespace metagmm::meta
