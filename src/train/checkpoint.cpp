#include "metagmm/train/checkpoint.hpp"

#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>

#include "metagmm/core/atomic_file.hpp"
#include "metagmm/core/error.hpp"
#include "metagmm/core/text.hpp"
#include "metagmm/h5/file.hpp"
#include "metagmm/meta/registry.hpp"
#include "metagmm/task/gmm_file.hpp"

namespace metagmm::train {
namespace {

class Crc {
 public:
  void add(const void* data, std::size_t bytes) {
    const auto* p = static_cast<const Bytef*>(data);
    while (bytes > 0) {  // zlib takes uInt lengths
      const auto chunk = static_cast<uInt>(std::min<std::size_t>(bytes, 1u << 30));
      value_ = crc32(value_, p, chunk);
      p += chunk;
      bytes -= chunk;
    }
  }
  void add(std::int64_t value) { add(&value, sizeof value); }
  void add(const std::string& text) {
    add(static_cast<std::int64_t>(text.size()));
    add(text.data(), text.size());
  }
  template <typename T>
  void add(const std::vector<T>& values) {
    add(static_cast<std::int64_t>(values.size()));
    add(values.data(), values.size() * sizeof(T));
  }
  void add(const Vector& values) {
    add(static_cast<std::int64_t>(values.size()));
    add(values.data(), static_cast<std::size_t>(values.size()) * sizeof(double));
  }
  std::uint32_t value() const { return static_cast<std::uint32_t>(value_); }

 private:
  uLong value_ = crc32(0L, Z_NULL, 0);
};

std::string hex(std::uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "%08x", value);
  return text;
}

std::vector<double> read_doubles(const h5::File& file, const std::string& name) {
  return file.dataset(name, h5::Dtype::float64, 1).read_all<double>();
}

Vector to_vector(const std::vector<double>& values) {
  return Eigen::Map<const Vector>(values.data(), static_cast<Index>(values.size()));
}

// Test hook: seconds to pause after the content is written and before the file is closed and
// renamed, so that tests can kill the process in the middle of a save.
void pause_for_tests() {
  if (const char* delay = std::getenv("METAGMM_TEST_CHECKPOINT_DELAY")) {
    std::this_thread::sleep_for(std::chrono::duration<double>(std::atof(delay)));
  }
}

meta::EncoderShape read_encoder(const h5::File& file, const std::string& name) {
  meta::EncoderShape shape;
  shape.input = file.require_int_attribute("/encoder", "input");
  for (const std::int64_t w : file.dataset("/encoder/widths", h5::Dtype::int64, 1).read_all<std::int64_t>())
    shape.widths.push_back(w);
  shape.residual = file.int_attribute("/encoder", "residual").value_or(0) != 0;  // absent in older checkpoints: plain
  shape.skip_scale = file.double_attribute("/encoder", "skip_scale").value_or(1.0);
  if (file.exists("/encoder/input_offset")) {
    shape.input_offset = read_doubles(file, "/encoder/input_offset");
    shape.input_scale = read_doubles(file, "/encoder/input_scale");
  }
  try {
    shape.validate();
  } catch (const InputError& error) {
    throw InputError(name + ": /encoder: " + error.what());
  }
  return shape;
}

// The encoder's flat weights, and each layer's W and b as datasets of their own for readers
// that do not know the flat layout.
void write_encoder(h5::File& file, const meta::EncoderShape& shape, const Vector& phi) {
  file.create_group("/encoder");
  file.set_attribute("/encoder", "input", static_cast<std::int64_t>(shape.input));
  const h5::DatasetOptions plain{.compress = false};
  file.write<double>("/encoder/parameters", {static_cast<std::uint64_t>(phi.size())}, phi.data(), plain);
  std::vector<std::int64_t> widths(shape.widths.begin(), shape.widths.end());
  file.write<std::int64_t>("/encoder/widths", {widths.size()}, widths.data(), plain);
  file.set_attribute("/encoder", "residual", static_cast<std::int64_t>(shape.residual ? 1 : 0));
  file.set_attribute("/encoder", "skip_scale", shape.skip_scale);
  if (shape.standardised()) {
    file.write<double>("/encoder/input_offset", {shape.input_offset.size()}, shape.input_offset.data(), plain);
    file.write<double>("/encoder/input_scale", {shape.input_scale.size()}, shape.input_scale.data(), plain);
  }
  Index at = 0;
  for (Index l = 0; l < shape.layers(); ++l) {
    const auto in = static_cast<std::uint64_t>(shape.layer_input(l));
    const auto out = static_cast<std::uint64_t>(shape.widths[static_cast<std::size_t>(l)]);
    const std::string group = "/encoder/layer_" + std::to_string(l + 1);
    file.create_group(group);
    file.write<double>(group + "/weights", {out, in}, phi.data() + at, plain);
    file.write<double>(group + "/bias", {out}, phi.data() + at + static_cast<Index>(out * in), plain);
    at += static_cast<Index>(out * in + out);
  }
}

// /settings: one typed attribute per setting.
meta::Settings read_settings(const h5::File& file) {
  meta::Settings settings;
  for (const std::string& name : file.attribute_names("/settings")) {
    switch (file.attribute_kind("/settings", name)) {
      case h5::File::AttributeKind::text: settings.set(name, *file.string_attribute("/settings", name)); break;
      case h5::File::AttributeKind::integer: settings.set(name, *file.int_attribute("/settings", name)); break;
      case h5::File::AttributeKind::real: settings.set(name, *file.double_attribute("/settings", name)); break;
      case h5::File::AttributeKind::other:
        throw InputError(file.path() + ": attribute " + name + " of /settings: expected one integer, number or string");
    }
  }
  return settings;
}

void write_settings(h5::File& file, const meta::Settings& settings) {
  file.create_group("/settings");
  for (const auto& [name, value] : settings.values())
    std::visit([&, &name = name](const auto& v) { file.set_attribute("/settings", name, v); }, value);
}

// Versions 1 to 3 stored the run's configuration as text and the extra meta-parameters as one
// unnamed block: the settings are the algorithm's declared ones read from those lines (missing
// ones, from builds before the setting existed, at their defaults, which those builds used),
// and the block is named by the algorithm they describe.
void settings_from_stored_configuration(Checkpoint& c, const Vector& unnamed_extra, const std::string& name) {
  try {
    const meta::AlgorithmEntry& entry = meta::algorithm_entry(c.algorithm);
    const auto config = parse_key_value_lines(c.config);
    meta::Settings given;
    for (const meta::SettingSpec& spec : entry.settings) {
      const auto found = config.find(spec.name);
      if (found != config.end()) given.set(spec.name, meta::parse_setting(spec, found->second));
    }
    c.settings = meta::complete_settings(entry.settings, given);
    if (unnamed_extra.size() == 0) return;
    const auto blocks = meta::make_algorithm(c.algorithm, c.model(), c.settings)->extra_parameters();
    if (blocks.size() != 1 || blocks.front().size != unnamed_extra.size()) {
      throw InputError(name + ": /inner/log_step_sizes holds " + std::to_string(unnamed_extra.size()) +
                       " values, which the stored configuration's " + c.algorithm + " does not learn");
    }
    c.extra[blocks.front().name] = unnamed_extra;
  } catch (const SettingError& error) {
    throw InputError(name + ": stored configuration: " + error.what());
  }
}

Checkpoint read_content(const std::filesystem::path& path) {
  const h5::File file = h5::File::open(path.string());
  const std::string name = path.string();
  const auto format = file.string_attribute("/", "format");
  if (format != std::string(kCheckpointFormat)) {
    throw InputError(name + ": format is '" + format.value_or("(missing)") + "', expected '" + kCheckpointFormat + "'");
  }
  const auto version = file.require_int_attribute("/", "version");
  if (version < kOldestCheckpointVersion || version > kCheckpointVersion)
    throw InputError(name + ": checkpoint version " + std::to_string(version) + " is not supported (this build reads " +
                     std::to_string(kOldestCheckpointVersion) + " to " + std::to_string(kCheckpointVersion) + ")");
  Checkpoint c;
  c.algorithm = file.require_string_attribute("/", "algorithm");
  c.step = file.require_int_attribute("/", "step");
  c.seed = static_cast<std::uint64_t>(std::stoull(file.require_string_attribute("/", "seed")));
  c.config = file.require_string_attribute("/", "config");
  c.optimizer = file.require_string_attribute("/", "optimizer");
  c.format_version = version;
  c.provenance = task::read_provenance(file);
  if (file.exists("/encoder")) {
    c.encoder = read_encoder(file, name);
    c.theta = to_vector(read_doubles(file, "/encoder/parameters"));
    if (c.theta.size() != c.encoder->parameter_count())
      throw InputError(name + ": /encoder/parameters has " + std::to_string(c.theta.size()) +
                       " values, the widths need " + std::to_string(c.encoder->parameter_count()));
  } else {
    const gmm::Gmm model = task::read_model(file, "/model", false);  // views checked after the checksum
    c.shape = model.shape;
    c.theta = to_vector(file.dataset("/model/parameters", h5::Dtype::float64, 1).read_all<double>());
  }
  Vector unnamed_extra;  // versions 1 to 3
  if (version >= 4) {
    c.settings = read_settings(file);
    for (const std::string& block : file.member_names("/extra")) c.extra[block] = to_vector(read_doubles(file, "/extra/" + block));
  } else if (file.exists("/inner/log_step_sizes")) {
    unnamed_extra = to_vector(read_doubles(file, "/inner/log_step_sizes"));
    c.extra["unnamed"] = unnamed_extra;  // summed as these versions did; named below
  }
  c.optimizer_state.steps = file.require_int_attribute("/", "optimizer_steps");
  if (file.exists("/optimizer/first")) {
    c.optimizer_state.first = to_vector(read_doubles(file, "/optimizer/first"));
    c.optimizer_state.second = to_vector(read_doubles(file, "/optimizer/second"));
  }
  c.metrics.step = file.dataset("/metrics/step", h5::Dtype::int64, 1).read_all<std::int64_t>();
  c.metrics.loss = read_doubles(file, "/metrics/loss");
  c.metrics.validation = read_doubles(file, "/metrics/validation");
  c.metrics.elapsed = read_doubles(file, "/metrics/elapsed");
  const std::size_t n = c.metrics.step.size();
  if (c.metrics.loss.size() != n || c.metrics.validation.size() != n || c.metrics.elapsed.size() != n)
    throw InputError(name + ": the /metrics datasets differ in length");
  const std::string stored = file.require_string_attribute("/", "checksum");
  const std::string computed = hex(checksum(c));
  if (stored != computed)
    throw InputError(name + ": checksum mismatch (stored " + stored + ", content gives " + computed +
                     "): the file is damaged");
  if (!c.encoder) task::check_model_views(file, "/model", c.shape, c.theta);
  if (version < 4) {
    c.extra.clear();
    settings_from_stored_configuration(c, unnamed_extra, name);
  }
  return c;
}

}  // namespace

void MetricsHistory::append(std::int64_t s, double l, double v, double e) {
  step.push_back(s);
  loss.push_back(l);
  validation.push_back(v);
  elapsed.push_back(e);
}

void MetricsHistory::truncate(std::size_t entries) {
  entries = std::min(entries, step.size());
  step.resize(entries);
  loss.resize(entries);
  validation.resize(entries);
  elapsed.resize(entries);
}

std::uint32_t checksum(const Checkpoint& c) {
  Crc crc;
  crc.add(c.algorithm);
  crc.add(c.step);
  crc.add(static_cast<std::int64_t>(c.seed));
  if (c.encoder) {
    crc.add(std::string("encoder"));
    crc.add(static_cast<std::int64_t>(c.encoder->input));
    crc.add(std::vector<std::int64_t>(c.encoder->widths.begin(), c.encoder->widths.end()));
    if (c.encoder->residual || c.encoder->standardised()) {  // so that older checkpoints keep their sums
      crc.add(std::int64_t{c.encoder->residual ? 1 : 0});
      crc.add(std::vector<double>{c.encoder->skip_scale});
      crc.add(c.encoder->input_offset);
      crc.add(c.encoder->input_scale);
    }
  } else {
    crc.add(static_cast<std::int64_t>(c.shape.components));
    crc.add(static_cast<std::int64_t>(c.shape.dim));
    crc.add(gmm::to_string(c.shape.covariance));
  }
  crc.add(c.theta);
  if (c.format_version < 4) {
    // One unnamed block, summed only when present (a checkpoint without one sums as version 1 did).
    for (const auto& [name, values] : c.extra) crc.add(values);
  } else {
    crc.add(static_cast<std::int64_t>(c.extra.size()));
    for (const auto& [name, values] : c.extra) {
      crc.add(name);
      crc.add(values);
    }
  }
  crc.add(c.optimizer);
  crc.add(c.optimizer_state.steps);
  crc.add(c.optimizer_state.first);
  crc.add(c.optimizer_state.second);
  crc.add(c.config);
  if (c.format_version >= 4) {
    crc.add(static_cast<std::int64_t>(c.settings.values().size()));
    for (const auto& [name, value] : c.settings.values()) {
      crc.add(name);
      crc.add(static_cast<std::int64_t>(value.index()));
      crc.add(meta::setting_text(value));  // exact: reals in their shortest round-trip form
    }
  }
  crc.add(c.metrics.step);
  crc.add(c.metrics.loss);
  crc.add(c.metrics.validation);
  crc.add(c.metrics.elapsed);
  return crc.value();
}

void write_checkpoint(const std::filesystem::path& path, const Checkpoint& content) {
  Checkpoint c = content;
  c.format_version = kCheckpointVersion;  // what is written, whatever was read
  AtomicFile output(path);
  {
    h5::File file = h5::File::create(output);
    file.set_attribute("/", "format", std::string(kCheckpointFormat));
    file.set_attribute("/", "version", kCheckpointVersion);
    file.set_attribute("/", "algorithm", c.algorithm);
    file.set_attribute("/", "step", c.step);
    // As text: HDF5 attributes here are signed 64-bit and a seed may use all 64 bits.
    file.set_attribute("/", "seed", std::to_string(c.seed));
    file.set_attribute("/", "config", c.config);
    file.set_attribute("/", "created_by", std::string("metagmm train"));
    task::write_provenance(file);  // the kernel level the run computed with (cli/isa_choice.hpp)
    if (c.encoder) {
      write_encoder(file, *c.encoder, c.theta);
    } else {
      task::write_model(file, "/model", c.shape, c.theta);
    }
    file.set_attribute("/", "optimizer", c.optimizer);
    file.set_attribute("/", "optimizer_steps", c.optimizer_state.steps);
    const h5::DatasetOptions plain{.compress = false};
    write_settings(file, c.settings);
    file.create_group("/extra");
    for (const auto& [name, values] : c.extra)
      file.write<double>("/extra/" + name, {static_cast<std::uint64_t>(values.size())}, values.data(), plain);
    if (c.optimizer_state.first.size() > 0) {
      file.create_group("/optimizer");
      const auto P = static_cast<std::uint64_t>(c.optimizer_state.first.size());
      file.write<double>("/optimizer/first", {P}, c.optimizer_state.first.data(), plain);
      file.write<double>("/optimizer/second", {P}, c.optimizer_state.second.data(), plain);
    }
    file.create_group("/metrics");
    const std::uint64_t n = c.metrics.size();
    const h5::DatasetOptions series{.compress = n > 0};
    file.write<std::int64_t>("/metrics/step", {n}, c.metrics.step.data(), series);
    file.write<double>("/metrics/loss", {n}, c.metrics.loss.data(), series);
    file.write<double>("/metrics/validation", {n}, c.metrics.validation.data(), series);
    file.write<double>("/metrics/elapsed", {n}, c.metrics.elapsed.data(), series);
    file.set_attribute("/", "checksum", hex(checksum(c)));
    file.flush();
    pause_for_tests();
    file.close();
  }
  output.commit();
}

Checkpoint read_checkpoint(const std::filesystem::path& path) {
  try {
    return read_content(path);
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& error) {  // std::stoull and the like on a damaged attribute
    throw InputError(path.string() + ": damaged checkpoint (" + error.what() + ")");
  }
}

std::string checkpoint_file_name(std::int64_t step) {
  char name[64];
  std::snprintf(name, sizeof name, "checkpoint-%012lld.h5", static_cast<long long>(step));
  return name;
}

namespace {

// The step in a name "checkpoint-<digits>.h5", or nullopt for any other name (temporaries of
// an interrupted save start with a dot and end differently).
std::optional<long long> checkpoint_step(const std::string& name) {
  constexpr std::string_view prefix = "checkpoint-", suffix = ".h5";
  if (name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) || !name.ends_with(suffix))
    return std::nullopt;
  const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoll(digits);
}

}  // namespace

std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& run_dir) {
  std::vector<std::pair<long long, std::filesystem::path>> found;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(run_dir, error)) {
    if (const auto step = checkpoint_step(entry.path().filename().string())) found.emplace_back(*step, entry.path());
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::filesystem::path> paths;
  for (auto& [step, path] : found) paths.push_back(std::move(path));
  return paths;
}

std::optional<std::filesystem::path> newest_valid_checkpoint(
    const std::filesystem::path& run_dir,
    const std::function<void(const std::filesystem::path&, const std::string&)>& skipped) {
  for (const auto& path : list_checkpoints(run_dir)) {
    try {
      read_checkpoint(path);
      return path;
    } catch (const InputError& error) {
      if (skipped) skipped(path, error.what());
    }
  }
  return std::nullopt;
}

void remove_stale_temporaries(const std::filesystem::path& run_dir) {
  std::error_code error;
  std::vector<std::filesystem::path> stale;
  for (const auto& entry : std::filesystem::directory_iterator(run_dir, error)) {
    const std::string final_name = AtomicFile::stale_final_name(entry.path().filename().string());
    if (checkpoint_step(final_name) || final_name == kBestCheckpointName) stale.push_back(entry.path());
  }
  for (const auto& path : stale) std::filesystem::remove(path, error);
}

void prune_checkpoints(const std::filesystem::path& run_dir, int keep) {
  remove_stale_temporaries(run_dir);
  const auto paths = list_checkpoints(run_dir);
  for (std::size_t i = static_cast<std::size_t>(std::max(keep, 1)); i < paths.size(); ++i) {
    std::error_code ignored;
    std::filesystem::remove(paths[i], ignored);
  }
}

std::unique_ptr<meta::Algorithm> checkpoint_algorithm(const Checkpoint& c, const std::string& path) {
  std::unique_ptr<meta::Algorithm> algorithm;
  try {
    algorithm = meta::make_algorithm(c.algorithm, c.model(), c.settings);
  } catch (const SettingError& error) {
    if (error.setting() == "algo") {
      throw InputError(path + ": trained with algorithm '" + c.algorithm + "', which this program does not have (it has " +
                       meta::algorithm_names() + ")");
    }
    throw InputError(path + ": stored setting " + error.what());
  }
  if (const std::string mismatch = extra_blocks_mismatch(c, *algorithm); !mismatch.empty())
    throw InputError(path + ": " + mismatch);
  return algorithm;
}

std::string extra_blocks_mismatch(const Checkpoint& c, const meta::Algorithm& algorithm) {
  std::map<std::string, Index> held, learned;
  for (const auto& [name, values] : c.extra) held[name] = values.size();
  for (const meta::ParameterBlock& block : algorithm.extra_parameters()) learned[block.name] = block.size;
  if (held == learned) return "";
  auto list = [](const std::map<std::string, Index>& blocks) {
    std::string text;
    for (const auto& [name, size] : blocks) text += (text.empty() ? "" : ", ") + name + " [" + std::to_string(size) + "]";
    return text.empty() ? std::string("none") : text;
  };
  return "holds the extra meta-parameters " + list(held) + "; " + algorithm.name() + " as configured learns " +
         list(learned);
}

std::unique_ptr<meta::MixtureAlgorithm> checkpoint_mixture_algorithm(const Checkpoint& c, const std::string& path) {
  auto algorithm = checkpoint_algorithm(c, path);
  auto* mixture = dynamic_cast<meta::MixtureAlgorithm*>(algorithm.get());
  if (!mixture) throw InputError(path + ": " + c.algorithm + " learns an encoder, not a mixture to adapt");
  algorithm.release();
  return std::unique_ptr<meta::MixtureAlgorithm>(mixture);
}

Vector meta_parameters(const Checkpoint& c, const meta::Algorithm& algorithm) {
  Vector meta(c.theta.size() + algorithm.extra_meta_parameters());
  meta.head(c.theta.size()) = c.theta;
  Index at = c.theta.size();
  for (const meta::ParameterBlock& block : algorithm.extra_parameters()) {
    const auto found = c.extra.find(block.name);
    METAGMM_CHECK(found != c.extra.end() && found->second.size() == block.size, "checkpoint extra block " + block.name);
    meta.segment(at, block.size) = found->second;
    at += block.size;
  }
  return meta;
}

std::map<std::string, Vector> extra_blocks(const Vector& meta, Index model_parameters, const meta::Algorithm& algorithm) {
  METAGMM_CHECK(meta.size() == model_parameters + algorithm.extra_meta_parameters(), "meta-parameter count");
  std::map<std::string, Vector> blocks;
  Index at = model_parameters;
  for (const meta::ParameterBlock& block : algorithm.extra_parameters()) {
    blocks[block.name] = meta.segment(at, block.size);
    at += block.size;
  }
  return blocks;
}

}  // namespace metagmm::train
