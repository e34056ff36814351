#include "metagmm/task/prior_file.hpp"

#include <filesystem>

#include "metagmm/core/atomic_file.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/h5/file.hpp"
#include "metagmm/task/gmm_file.hpp"
#include "metagmm/task/provenance.hpp"

namespace metagmm::task {

void write_prior_file(const std::string& path, const gmm::HierarchicalPrior& prior, const std::string& data,
                      const std::string& settings) {
  const gmm::GmmShape& s = prior.shape;
  const auto K = static_cast<std::uint64_t>(s.components), d = static_cast<std::uint64_t>(s.dim);
  AtomicFile output(path);
  {
    h5::File file = h5::File::create(output);
    file.set_attribute("/", "format", std::string(kPriorFormat));
    file.set_attribute("/", "version", kPriorVersion);
    file.set_attribute("/", "components", static_cast<std::int64_t>(s.components));
    file.set_attribute("/", "dim", static_cast<std::int64_t>(s.dim));
    file.set_attribute("/", "covariance_type", gmm::to_string(s.covariance));
    file.set_attribute("/", "data", data);
    file.set_attribute("/", "settings", settings);
    write_provenance(file);
    const Vector flat = prior.pack();
    const h5::DatasetOptions plain{.compress = false};
    file.write<double>("/parameters", {static_cast<std::uint64_t>(flat.size())}, flat.data(), plain);
    write_model(file, "model", prior.first_model());
    file.create_group("prior");
    file.write<double>("/prior/concentration", {K}, prior.concentration.data(), plain);
    file.write<double>("/prior/mean", {K, d}, prior.mean.data(), plain);
    file.write<double>("/prior/between_variance", {K, d}, prior.between_variance.data(), plain);
    file.write<double>("/prior/within_variance", {K, d}, prior.within_variance.data(), plain);
    file.write<double>("/prior/strength", {K, d}, prior.strength.data(), plain);
    file.write<double>("/prior/first_variance", {K, d}, prior.first_variance.data(), plain);
    if (prior.coupled()) {  // row-major, as h5py reads it: the factor's strictly-lower part, zeros elsewhere
      const RowMatrix coupling = prior.mean_coupling.triangularView<Eigen::StrictlyLower>();
      file.write<double>("/prior/mean_coupling", {K * d, K * d}, coupling.data(), plain);
    }
    file.close();
  }
  output.commit();
}

gmm::HierarchicalPrior read_prior_file(const std::string& path, const gmm::GmmShape& shape, const std::string& what,
                                       const std::string& expected) {
  gmm::HierarchicalPrior prior = read_prior_file(path);
  if (!(prior.shape == shape)) {
    throw InputError(what + " " + path + ": a prior for " + std::to_string(prior.shape.components) +
                     " components in d = " + std::to_string(prior.shape.dim) + ", " + expected + " " +
                     std::to_string(shape.components) + " (" + gmm::to_string(shape.covariance) + ") in d = " +
                     std::to_string(shape.dim));
  }
  return prior;
}

bool is_prior_file(const std::string& path) {
  if (!std::filesystem::is_regular_file(path) || !h5::is_hdf5_file(path)) return false;
  return h5::File::open(path).string_attribute("/", "format") == std::string(kPriorFormat);
}

gmm::HierarchicalPrior read_prior_file(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw InputError(path + ": no such file (expected a metagmm.prior file)");
  if (!h5::is_hdf5_file(path)) throw InputError(path + ": not an HDF5 file (expected a metagmm.prior file)");
  const h5::File file = h5::File::open(path);
  const auto format = file.string_attribute("/", "format");
  if (format != std::string(kPriorFormat)) {
    throw InputError(path + ": format is '" + format.value_or("(missing)") + "', expected '" + kPriorFormat +
                     "' (a prior written by metagmm fit --prior heb)");
  }
  const auto version = file.require_int_attribute("/", "version");
  if (version != kPriorVersion) throw InputError(path + ": prior version " + std::to_string(version) + " is not supported");
  gmm::GmmShape shape;
  shape.covariance = gmm::parse_covariance_type(file.require_string_attribute("/", "covariance_type"),
                                                path + ": attribute covariance_type");
  if (shape.covariance != gmm::CovarianceType::diag) throw InputError(path + ": covariance_type must be diag");
  shape.components = file.require_int_attribute("/", "components");
  shape.dim = file.require_int_attribute("/", "dim");
  if (shape.components < 1 || shape.dim < 1) throw InputError(path + ": components and dim must be >= 1");
  const std::vector<double> flat = file.dataset("/parameters", h5::Dtype::float64, 1).read_all<double>();
  const auto independent = gmm::HierarchicalPrior::flat_size(shape), coupled = gmm::HierarchicalPrior::flat_size(shape, true);
  if (const auto size = static_cast<Index>(flat.size()); size != independent && size != coupled) {
    throw InputError(path + ": dataset parameters has " + std::to_string(flat.size()) + " values, expected " +
                     std::to_string(independent) + " (or " + std::to_string(coupled) + " with coupled means) for " +
                     std::to_string(shape.components) + " components in " + std::to_string(shape.dim) + " dimensions");
  }
  const Vector parameters = Eigen::Map<const Vector>(flat.data(), static_cast<Index>(flat.size()));
  if (!parameters.allFinite()) throw InputError(path + ": dataset parameters holds NaN or Inf");
  gmm::HierarchicalPrior prior = gmm::HierarchicalPrior::unpack(shape, parameters);
  prior.validate(path);
  return prior;
}

}  // namespace metagmm::task
