#include "metagmm/task/gmm_file.hpp"

#include "metagmm/gmm/covariance.hpp"

#include "metagmm/core/atomic_file.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/h5/file.hpp"
#include "metagmm/task/provenance.hpp"

namespace metagmm::task {

namespace {

std::string object(const std::string& group, const std::string& name) {
  return group == "/" ? "/" + name : group + "/" + name;
}

}  // namespace

void write_model(h5::File& file, const std::string& group, const gmm::Gmm& model) {
  write_model(file, group, model.shape, model.pack());
}

void write_model(h5::File& file, const std::string& group, const gmm::GmmShape& s, const Vector& flat) {
  const gmm::Gmm model = gmm::Gmm::unpack(s, flat);
  const auto K = static_cast<std::uint64_t>(s.components), d = static_cast<std::uint64_t>(s.dim);
  if (group != "/" && !file.exists(group)) file.create_group(group);
  file.set_attribute(group, "covariance_type", gmm::to_string(s.covariance));
  file.set_attribute(group, "components", static_cast<std::int64_t>(s.components));
  file.set_attribute(group, "dim", static_cast<std::int64_t>(s.dim));
  const h5::DatasetOptions plain{.compress = false};
  file.write<double>(object(group, "parameters"), {flat.size() + 0ULL}, flat.data(), plain);
  const gmm::GmmMoments m = gmm::to_moments(model);
  file.write<double>(object(group, "weights"), {K}, m.weights.data(), plain);
  file.write<double>(object(group, "means"), {K, d}, m.means.data(), plain);
  if (s.covariance == gmm::CovarianceType::full) {
    RowMatrix covariances(K * d, d), precisions(K * d, d);
    for (Index k = 0; k < s.components; ++k) {
      covariances.middleRows(k * s.dim, s.dim) = m.covariances[k];
      precisions.middleRows(k * s.dim, s.dim) = model.prec_chol[k];
    }
    file.write<double>(object(group, "covariances"), {K, d, d}, covariances.data(), plain);
    file.write<double>(object(group, "precisions_cholesky"), {K, d, d}, precisions.data(), plain);
  } else {
    const h5::Dims dims = gmm::stored_covariance_dims(s.covariance, s.components, s.dim);
    const RowMatrix precisions = (-model.log_sd.array()).exp().matrix();
    file.write<double>(object(group, "covariances"), dims, m.variances.data(), plain);
    file.write<double>(object(group, "precisions_cholesky"), dims, precisions.data(), plain);
  }
}

gmm::Gmm read_model(const h5::File& file, const std::string& group) {
  const std::string& path = file.path();
  const std::string where = group == "/" ? path : path + ": group " + group;
  gmm::GmmShape shape;
  shape.covariance = gmm::parse_covariance_type(file.require_string_attribute(group, "covariance_type"),
                                                where + ": attribute covariance_type");
  shape.components = file.require_int_attribute(group, "components");
  shape.dim = file.require_int_attribute(group, "dim");
  if (shape.components < 1 || shape.dim < 1) throw InputError(where + ": components and dim must be >= 1");
  const std::vector<double> flat = file.dataset(object(group, "parameters"), h5::Dtype::float64, 1).read_all<double>();
  if (static_cast<Index>(flat.size()) != shape.parameter_count()) {
    throw InputError(where + ": dataset parameters has " + std::to_string(flat.size()) + " values, expected " +
                     std::to_string(shape.parameter_count()) + " for " + std::to_string(shape.components) + " " +
                     gmm::to_string(shape.covariance) + " components in " + std::to_string(shape.dim) + " dimensions");
  }
  const Vector parameters = Eigen::Map<const Vector>(flat.data(), static_cast<Index>(flat.size()));
  if (!parameters.allFinite()) throw InputError(where + ": dataset parameters holds NaN or Inf");
  return gmm::Gmm::unpack(shape, parameters);
}

void write_gmm_file(const std::string& path, const gmm::Gmm& model, const FitRecord* record) {
  AtomicFile output(path);
  write_gmm_file(output, model, record);
  output.commit();
}

void write_gmm_file(const AtomicFile& output, const gmm::Gmm& model, const FitRecord* record) {
  {
    h5::File file = h5::File::create(output);
    file.set_attribute("/", "format", std::string(kGmmFormat));
    file.set_attribute("/", "version", kGmmVersion);
    write_provenance(file);
    write_model(file, "/", model);
    if (record) {
      file.write<std::int32_t>("/assignments", {static_cast<std::uint64_t>(record->assignments.size())},
                               record->assignments.data());
      file.set_attribute("/", "mean_log_likelihood", record->mean_log_likelihood);
      file.set_attribute("/", "iterations", static_cast<std::int64_t>(record->iterations));
      file.set_attribute("/", "converged", static_cast<std::int64_t>(record->converged));
      file.set_attribute("/", "data", record->data);
      file.set_attribute("/", "settings", record->settings);
    }
    file.close();
  }
}

gmm::Gmm read_gmm_file(const std::string& path) {
  const h5::File file = h5::File::open(path);
  const auto format = file.string_attribute("/", "format");
  if (format != std::string(kGmmFormat)) {
    throw InputError(path + ": format is '" + format.value_or("(missing)") + "', expected '" + kGmmFormat +
                     "' (a model written by metagmm fit)");
  }
  const auto version = file.require_int_attribute("/", "version");
  if (version != kGmmVersion) throw InputError(path + ": model version " + std::to_string(version) + " is not supported");
  return read_model(file, "/");
}

}  // namespace metagmm::task
