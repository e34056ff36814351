#pragma once
// Checkpoints (docs/design.md, "File formats"), format "metagmm.checkpoint" version 4, one
// HDF5 file per save, readable by any HDF5 tool:
//   /model/...              the mixture algorithms' meta-parameters: flat vector and named views
//                           (layout of task/gmm_file.hpp: parameters, weights, means, ...)
//   /encoder/...            instead of /model for protonet (since version 3): the encoder's
//                           weights, parameters float64 [P] (layout of meta/encoder.hpp), widths
//                           int64 [L], attribute input (d), and named views layer_<l>/weights
//                           float64 [out, in] and layer_<l>/bias float64 [out], l = 1..L;
//                           attributes residual (1: s x + g(x), the identity start) and
//                           skip_scale (s, a power of two), and datasets
//                           input_offset, input_scale float64 [d] (the input standardisation),
//                           absent in older files (a plain encoder on raw inputs)
//   /settings               (version 4) one attribute per algorithm setting, typed: int64,
//                           float64 or string, named as the setting (meta/settings.hpp)
//   /extra/<name>           (version 4) float64 [S] each block of meta-parameters the algorithm
//                           learns besides the model, named by what it is: log_step_sizes
//                           (Meta-SGD), log_relevance (maml through MAP steps), ...
//   /inner/log_step_sizes   (versions 1 to 3, read only) the extra meta-parameters, unnamed
//   /optimizer/first        float64 [P+S] Adam's first moments   (absent for SGD)
//   /optimizer/second       float64 [P+S] Adam's second moments  (absent for SGD)
//   /metrics/step           int64   [n] one entry per meta-step taken so far
//   /metrics/loss           float64 [n] mean query negative log-likelihood after adaptation
//   /metrics/validation     float64 [n] validation log-likelihood (NaN where not measured)
//   /metrics/elapsed        float64 [n] seconds of training when the step ended
//   root attributes: format, version, algorithm, step (meta-steps taken), seed,
//                    optimizer ("sgd"/"adam"), optimizer_steps, config (the run's resolved
//                    configuration, "key = value" lines), created_by, checksum;
//                    metagmm_version, git_revision and isa (the kernel level, task/provenance.hpp:
//                    not covered by the checksum; absent before metagmm 0.2.0).
// Versions 1 to 3 have no /settings: a reader takes the algorithm's settings from the stored
// configuration's lines, each read as its declared type (meta/registry.hpp), and names the
// extra block by the algorithm it rebuilds.
// The random streams need nothing more than the seed and the step: every draw is a pure
// function of (seed, step, task) (task/sampler.hpp).
// The checksum is a CRC-32 (zlib) over every value above, in a fixed order; a reader
// recomputes it, so a truncated or bit-flipped file is reported, never silently used.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "metagmm/gmm/params.hpp"
#include <map>
#include <memory>

#include "metagmm/meta/algorithm.hpp"
#include "metagmm/meta/encoder.hpp"
#include "metagmm/meta/model_shape.hpp"
#include "metagmm/meta/optimizer.hpp"
#include "metagmm/meta/settings.hpp"
#include "metagmm/task/provenance.hpp"

namespace metagmm::train {

inline constexpr const char* kCheckpointFormat = "metagmm.checkpoint";
inline constexpr std::int64_t kCheckpointVersion = 4;
inline constexpr std::int64_t kOldestCheckpointVersion = 1;  // still read

struct MetricsHistory {
  std::vector<std::int64_t> step;
  std::vector<double> loss, validation, elapsed;
  void append(std::int64_t step, double loss, double validation, double elapsed);
  std::size_t size() const { return step.size(); }
  void truncate(std::size_t entries);
  bool operator==(const MetricsHistory&) const = default;
};

using meta::ModelShape;

struct Checkpoint {
  std::string algorithm;
  std::int64_t step = 0;  // meta-steps taken
  std::uint64_t seed = 0;
  gmm::GmmShape shape;    // the mixture (when there is no encoder)
  std::optional<meta::EncoderShape> encoder;  // protonet's encoder
  Vector theta;           // the model's flat parameters (the mixture's or the encoder's)
  meta::Settings settings;  // the algorithm's settings
  // The meta-parameters the algorithm learns besides the model's, by block name (empty if none).
  std::map<std::string, Vector> extra;
  std::string optimizer;  // "sgd" or "adam"
  meta::OptimizerState optimizer_state;
  std::string config;     // resolved configuration
  MetricsHistory metrics;
  // Read only: the file's format version and the build and kernel level that wrote it (a save
  // writes kCheckpointVersion and the ones in use).
  std::int64_t format_version = kCheckpointVersion;
  task::Provenance provenance;
  ModelShape model() const { return encoder ? ModelShape(*encoder) : ModelShape(shape); }
};

// The algorithm the checkpoint was trained with, made through the registry from its settings;
// InputError naming `path` if its algorithm is not registered, its settings are impossible, or
// its extra blocks are not the algorithm's.
std::unique_ptr<meta::Algorithm> checkpoint_algorithm(const Checkpoint& checkpoint, const std::string& path);
// The same, for a mixture algorithm: InputError for one that learns an encoder.
std::unique_ptr<meta::MixtureAlgorithm> checkpoint_mixture_algorithm(const Checkpoint& checkpoint,
                                                                     const std::string& path);
// Empty when `checkpoint` holds exactly the extra blocks `algorithm` learns; otherwise what
// differs: "holds the extra meta-parameters none; fomaml as configured learns log_step_sizes [3]".
std::string extra_blocks_mismatch(const Checkpoint& checkpoint, const meta::Algorithm& algorithm);
// The meta-parameters `algorithm` adapts from: the model's, then its extra blocks in its order.
Vector meta_parameters(const Checkpoint& checkpoint, const meta::Algorithm& algorithm);
// The extra blocks of `meta` (model first, then the blocks in `algorithm`'s order) by name.
std::map<std::string, Vector> extra_blocks(const Vector& meta, Index model_parameters,
                                           const meta::Algorithm& algorithm);

// CRC-32 of the checkpoint's content (everything but the file layout).
std::uint32_t checksum(const Checkpoint& checkpoint);

// Writes atomically: a temporary file beside `path`, flushed to disk, then renamed over it.
void write_checkpoint(const std::filesystem::path& path, const Checkpoint& checkpoint);
// Throws InputError (naming the file) if it is unreadable, of another format or version, or
// fails its checksum.
Checkpoint read_checkpoint(const std::filesystem::path& path);

// "checkpoint-000000001000.h5" for step 1000.
std::string checkpoint_file_name(std::int64_t step);
// train --keep-best's checkpoint of the best validation score, beside the numbered ones (which
// resuming and pruning only ever consider).
inline constexpr const char* kBestCheckpointName = "best.h5";
// The run directory's checkpoints, newest (highest step) first.
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& run_dir);
// The newest checkpoint that reads back whole; each one skipped is passed to `skipped` with
// the reason.
std::optional<std::filesystem::path> newest_valid_checkpoint(
    const std::filesystem::path& run_dir,
    const std::function<void(const std::filesystem::path&, const std::string&)>& skipped);
// Removes the temporaries of checkpoint saves a killed process left in the run directory
// (".checkpoint-<step>.h5.tmp.<pid>", ".best.h5.tmp.<pid>" of another process).
void remove_stale_temporaries(const std::filesystem::path& run_dir);
// Removes all but the newest `keep` checkpoints, and stale temporaries.
void prune_checkpoints(const std::filesystem::path& run_dir, int keep);

}  // namespace metagmm::train
