#include "metagmm/meta/model_shape.hpp"

namespace metagmm::meta {

std::string ModelShape::describe() const {
  if (!encoder) {
    return std::to_string(mixture.components) + " " + gmm::to_string(mixture.covariance) + " components in " +
           std::to_string(mixture.dim) + " dimensions";
  }
  std::string text = "encoder " + std::to_string(encoder->input);
  for (const Index w : encoder->widths) text += "-" + std::to_string(w);
  return text;
}

}  // namespace metagmm::meta
