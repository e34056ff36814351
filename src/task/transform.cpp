#include "metagmm/task/transform.hpp"

#include <Eigen/Eigenvalues>
#include <cmath>

#include "metagmm/core/error.hpp"
#include "metagmm/h5/file.hpp"
#include "metagmm/task/taskset.hpp"

namespace metagmm::task {

Standardisation Standardisation::fit(const RowMatrix& points, const std::string& what) {
  if (points.rows() == 0) throw InputError(what + ": no training points to standardise the coordinates on");
  const auto n = static_cast<double>(points.rows());
  Standardisation s;
  s.offset = points.colwise().mean().transpose();
  s.scale.resize(points.cols());
  for (Index j = 0; j < points.cols(); ++j) {
    const double variance = (points.col(j).array() - s.offset[j]).square().sum() / n;
    s.scale[j] = variance > 0.0 ? std::sqrt(variance) : 1.0;  // a constant column stays as it is, shifted
  }
  return s;
}

RowMatrix Standardisation::apply(const RowMatrix& raw) const {
  METAGMM_CHECK(raw.cols() == offset.size(), "standardisation: column count");
  return ((raw.rowwise() - offset.transpose()).array().rowwise() / scale.transpose().array()).matrix();
}

void Standardisation::write(TaskSetWriter& writer) const {
  const h5::Dims dims{static_cast<std::uint64_t>(offset.size())};
  writer.add_array("/standardisation/offset", dims, offset.data(),
                   "subtracted from each raw coordinate: the training split's mean (x = (raw - offset) / scale)");
  writer.add_array("/standardisation/scale", dims, scale.data(),
                   "divides each centred coordinate: the training split's standard deviation (1 where it is 0)");
}

Projection Projection::fit_pca(const RowMatrix& inputs, double input_scale, Index dim, const std::string& what) {
  const Index n = inputs.rows(), p = inputs.cols();
  if (dim < 1 || dim > p) {
    throw InputError(what + ": expected between 1 and " + std::to_string(p) + " components, got " + std::to_string(dim));
  }
  if (n < 2) throw InputError(what + ": the principal components need at least 2 training inputs, got " + std::to_string(n));
  Projection projection;
  projection.input_scale = input_scale;
  const RowMatrix scaled = inputs * input_scale;
  projection.mean = scaled.colwise().mean().transpose();
  const RowMatrix centred = scaled.rowwise() - projection.mean.transpose();
  Matrix covariance = Matrix::Zero(p, p);
  covariance.selfadjointView<Eigen::Lower>().rankUpdate(centred.transpose(), 1.0 / static_cast<double>(n - 1));
  const Eigen::SelfAdjointEigenSolver<Matrix> solver(covariance.selfadjointView<Eigen::Lower>());
  if (solver.info() != Eigen::Success) throw NumericError(what + ": the eigendecomposition of the covariance failed");
  projection.components.resize(dim, p);
  for (Index c = 0; c < dim; ++c) {
    Vector direction = solver.eigenvectors().col(p - 1 - c);  // eigenvalues ascend
    Index largest = 0;
    direction.cwiseAbs().maxCoeff(&largest);
    if (direction[largest] < 0.0) direction = -direction;
    projection.components.row(c) = direction.transpose();
  }
  return projection;
}

RowMatrix Projection::apply(const RowMatrix& raw) const {
  METAGMM_CHECK(raw.cols() == mean.size(), "projection: input width");
  const RowMatrix centred = (raw * input_scale).rowwise() - mean.transpose();
  return centred * components.transpose();
}

void Projection::write(TaskSetWriter& writer) const {
  writer.add_array("/projection/mean", {static_cast<std::uint64_t>(mean.size())}, mean.data(),
                   "subtracted from each scaled raw input (raw * input_scale): the training inputs' mean");
  writer.add_array("/projection/components",
                   {static_cast<std::uint64_t>(components.rows()), static_cast<std::uint64_t>(components.cols())},
                   components.data(),
                   "principal directions of the training inputs, one per row by decreasing variance: "
                   "x = (raw * input_scale - mean) components^T");
  writer.set_attribute("/projection", "input_scale", input_scale);
}

StoredTransform StoredTransform::read(const std::string& path) {
  const TaskSetReader reader(path);  // a task set, checked
  const h5::File file = h5::File::open(path);
  const auto vector = [&](const std::string& name) {
    const std::vector<double> values = file.dataset(name, h5::Dtype::float64, 1).read_all<double>();
    return Vector(Eigen::Map<const Vector>(values.data(), static_cast<Index>(values.size())));
  };
  StoredTransform stored;
  if (file.exists("/standardisation")) {
    Standardisation s{vector("/standardisation/offset"), vector("/standardisation/scale")};
    if (s.offset.size() != reader.dim() || s.scale.size() != reader.dim() || !(s.scale.array() > 0.0).all()) {
      throw InputError(path + ": /standardisation needs dim offsets and positive scales");
    }
    stored.standardisation = std::move(s);
  } else if (file.exists("/projection")) {
    Projection p;
    p.mean = vector("/projection/mean");
    const h5::Dataset components = file.dataset("/projection/components", h5::Dtype::float64, 2);
    if (static_cast<Index>(components.dims()[0]) != reader.dim() || static_cast<Index>(components.dims()[1]) != p.mean.size()) {
      throw InputError(path + ": /projection/components must be [dim, inputs] with inputs the length of /projection/mean");
    }
    p.components.resize(reader.dim(), p.mean.size());
    components.read_rows<double>(0, components.dims()[0], p.components.data());
    p.input_scale = file.double_attribute("/projection", "input_scale").value_or(1.0);
    stored.projection = std::move(p);
  } else {
    throw InputError(path + ": the task set stores no map from raw data (/standardisation or /projection; "
                     "metagmm import --netcdf or --idx-images writes one)");
  }
  return stored;
}

Index StoredTransform::input_width() const {
  return standardisation ? standardisation->offset.size() : projection->mean.size();
}

RowMatrix StoredTransform::apply(const RowMatrix& raw) const {
  return standardisation ? standardisation->apply(raw) : projection->apply(raw);
}

}  // namespace metagmm::task
