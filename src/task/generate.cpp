#include "metagmm/task/generate.hpp"

#include "metagmm/core/eigen.hpp"
#include <Eigen/LU>
#include <cmath>
#include <numbers>
#include <sstream>

#include "metagmm/core/error.hpp"
#include "metagmm/core/random.hpp"
#include "metagmm/core/text.hpp"
#include "metagmm/gmm/sample.hpp"

namespace metagmm::task {
namespace {

using gmm::CovarianceType;

// A uniformly random rotation: QR of a Gaussian matrix with the signs of R's diagonal fixed.
Matrix random_rotation(Index d, RandomStream& random) {
  Matrix gaussian(d, d);
  for (Index j = 0; j < d; ++j)
    for (Index i = 0; i < d; ++i) gaussian(i, j) = random.normal();
  Eigen::HouseholderQR<Matrix> qr(gaussian);
  Matrix q = qr.householderQ();
  const Matrix r = qr.matrixQR().triangularView<Eigen::Upper>();
  for (Index j = 0; j < d; ++j)
    if (r(j, j) < 0) q.col(j) *= -1.0;
  return q;
}

Vector dirichlet(Index n, double concentration, RandomStream& random) {
  Vector w(n);
  for (Index k = 0; k < n; ++k) w[k] = random.gamma(concentration);
  return w / w.sum();
}

double uniform_in(double lo, double hi, RandomStream& random) { return lo + (hi - lo) * random.uniform(); }

// A component's covariance around `scale`: standard deviations log-uniform within a factor
// of 1.35 of it; full covariances get a random orientation.
void draw_covariance(gmm::GmmMoments& m, Index k, double scale, RandomStream& random) {
  const Index d = m.means.cols();
  switch (m.covariance) {
    case CovarianceType::spherical:
      m.variances(k, 0) = std::pow(scale * std::exp(uniform_in(-0.3, 0.3, random)), 2);
      break;
    case CovarianceType::diag:
      for (Index j = 0; j < d; ++j) m.variances(k, j) = std::pow(scale * std::exp(uniform_in(-0.3, 0.3, random)), 2);
      break;
    case CovarianceType::full: {
      Vector variances(d);
      for (Index j = 0; j < d; ++j) variances[j] = std::pow(scale * std::exp(uniform_in(-0.3, 0.3, random)), 2);
      const Matrix rotation = random_rotation(d, random);
      m.covariances[k] = rotation * variances.asDiagonal() * rotation.transpose();
      m.covariances[k] = 0.5 * (m.covariances[k] + m.covariances[k].transpose()).eval();
      break;
    }
  }
}

gmm::GmmMoments empty_moments(CovarianceType type, Index K, Index d) {
  gmm::GmmMoments m;
  m.covariance = type;
  m.weights = Vector::Constant(K, 1.0 / static_cast<double>(K));
  m.means.resize(K, d);
  if (type == CovarianceType::full) {
    m.covariances.assign(K, Matrix::Identity(d, d));
  } else {
    m.variances.resize(K, type == CovarianceType::diag ? d : 1);
  }
  return m;
}

// A Student-t variate with `dof` degrees of freedom: a normal over sqrt(chi2_dof / dof).
double student_t(double dof, RandomStream& random) {
  const double z = random.normal();
  const double chi2 = 2.0 * random.gamma(0.5 * dof);
  return z / std::sqrt(std::max(chi2, 1e-300) / dof);
}

// A rotation near the identity: the Cayley transform (I - S)^-1 (I + S) of a random skew matrix
// S with entries ~ N(0, (spin / 2)^2 / d), so the angles are of order spin.
Matrix small_rotation(Index d, double spin, RandomStream& random) {
  Matrix g(d, d);
  for (Index j = 0; j < d; ++j)
    for (Index i = 0; i < d; ++i) g(i, j) = random.normal();
  const Matrix skew = 0.25 * spin / std::sqrt(static_cast<double>(d)) * (g - g.transpose());
  const Matrix identity = Matrix::Identity(d, d);
  return (identity - skew).partialPivLu().solve(identity + skew);
}

// The transformed family's task-level move, applied to every anchor at once: rotated and scaled
// about the anchors' centre, then shifted. Covariances scale with it (full ones rotate too).
gmm::GmmMoments transform_task(const GeneratorOptions& o, gmm::GmmMoments family, RandomStream& random) {
  const Index d = o.dim;
  const Matrix rotation = small_rotation(d, o.spin, random);
  const double zoom = std::exp(o.zoom * random.normal());
  Vector shift(d);
  for (Index j = 0; j < d; ++j) shift[j] = o.shift * o.scale * random.normal();
  const Vector centre = family.means.colwise().mean().transpose();
  for (Index k = 0; k < family.means.rows(); ++k) {
    const Vector moved = centre + zoom * rotation * (family.means.row(k).transpose() - centre) + shift;
    family.means.row(k) = moved.transpose();
    if (family.covariance == CovarianceType::full) {
      family.covariances[k] = zoom * zoom * rotation * family.covariances[k] * rotation.transpose();
      family.covariances[k] = 0.5 * (family.covariances[k] + family.covariances[k].transpose()).eval();
    } else {
      family.variances.row(k) *= zoom * zoom;
    }
  }
  return family;
}

}  // namespace

std::string to_string(Family family) {
  switch (family) {
    case Family::uniform: return "uniform";
    case Family::anchored: return "anchored";
    case Family::warped: return "warped";
    case Family::transformed: return "transformed";
    case Family::heavy: return "heavy";
  }
  return "?";
}

Family parse_family(const std::string& text, const std::string& what) {
  if (text == "uniform") return Family::uniform;
  if (text == "anchored") return Family::anchored;
  if (text == "warped") return Family::warped;
  if (text == "transformed") return Family::transformed;
  if (text == "heavy") return Family::heavy;
  throw InputError(what + ": expected uniform, anchored, warped, transformed or heavy, got '" + text + "'");
}

void GeneratorOptions::validate() const {
  auto positive = [](double v) { return v > 0.0 && std::isfinite(v); };
  if (dim < 1 || dim > 4096) throw InputError("--dim: expected an integer in [1, 4096], got " + std::to_string(dim));
  if (components < 1 || components > 100000) throw InputError("--components: expected an integer in [1, 100000], got " + std::to_string(components));
  if (tasks < 1) throw InputError("--tasks: expected an integer >= 1, got " + std::to_string(tasks));
  if (points_min < 1 || points_max < points_min) {
    throw InputError("--points: expected MIN:MAX with 1 <= MIN <= MAX, got " + std::to_string(points_min) + ":" + std::to_string(points_max));
  }
  if (!(box >= 0.0) || !std::isfinite(box)) throw InputError("--box: expected a finite number >= 0");
  if (!positive(scale)) throw InputError("--scale: expected a finite number > 0");
  if (!(jitter >= 0.0) || !std::isfinite(jitter)) throw InputError("--jitter: expected a finite number >= 0");
  if (!(drop >= 0.0 && drop < 1.0)) throw InputError("--drop: expected a probability in [0, 1)");
  if (!positive(concentration)) throw InputError("--concentration: expected a finite number > 0");
  if (!(shift >= 0.0) || !std::isfinite(shift)) throw InputError("--shift: expected a finite number >= 0");
  if (!(spin >= 0.0) || !std::isfinite(spin)) throw InputError("--spin: expected a finite number >= 0");
  if (!(zoom >= 0.0) || !std::isfinite(zoom)) throw InputError("--zoom: expected a finite number >= 0");
  if (!positive(tail_dof)) throw InputError("--tail-dof: expected a finite number > 0");
  if (!(warp >= 0.0 && warp < 1.0)) throw InputError("--warp: expected a number in [0, 1) (1 would fold the space)");
}

std::string GeneratorOptions::describe() const {
  std::ostringstream out;
  const auto number = [](double value) { return shortest_text(value); };
  out << "family = " << to_string(family) << "\ndim = " << dim << "\ncomponents = " << components << "\ntasks = " << tasks
      << "\npoints = " << points_min << ":" << points_max << "\nseed = " << seed
      << "\ntruth-covariance = " << gmm::to_string(truth_covariance) << "\nbox = " << number(box) << "\nscale = " << number(scale)
      << "\njitter = " << number(jitter) << "\ndrop = " << number(drop) << "\nconcentration = " << number(concentration) << "\nwarp = " << number(warp)
      << "\nsplit = " << split.to_string() << "\n";
  // Only the families that use them record these, so older families' files stay as they were.
  if (family == Family::transformed)
    out << "shift = " << number(shift) << "\nspin = " << number(spin) << "\nzoom = " << number(zoom) << "\n";
  if (family == Family::heavy) out << "tail-dof = " << number(tail_dof) << "\n";
  return out.str();
}

gmm::Gmm family_anchors(const GeneratorOptions& o) {
  RandomStream random(o.seed, StreamPurpose::family, 0);
  gmm::GmmMoments m = empty_moments(o.truth_covariance, o.components, o.dim);
  for (Index k = 0; k < o.components; ++k) {
    for (Index j = 0; j < o.dim; ++j) m.means(k, j) = uniform_in(-o.box, o.box, random);
    draw_covariance(m, k, o.scale, random);
  }
  return gmm::from_moments(m);
}

Warp family_warp(const GeneratorOptions& o) {
  RandomStream random(o.seed, StreamPurpose::family, 1);
  Warp warp;
  warp.rotation_in = random_rotation(o.dim, random);
  warp.rotation_out = random_rotation(o.dim, random);
  warp.amplitude.resize(o.dim);
  warp.frequency.resize(o.dim);
  warp.phase.resize(o.dim);
  // About one wave across the box, so the deformation is visible at the scale of the
  // clusters' layout but smooth at the scale of one cluster.
  const double base_frequency = std::numbers::pi / std::max(o.box, o.scale);
  for (Index j = 0; j < o.dim; ++j) {
    warp.frequency[j] = base_frequency * uniform_in(0.7, 1.4, random);
    warp.amplitude[j] = o.warp / warp.frequency[j];
    warp.phase[j] = uniform_in(0.0, 2.0 * std::numbers::pi, random);
  }
  return warp;
}

GeneratedTask generate_task(const GeneratorOptions& o, const gmm::Gmm& anchors, const Warp* warp, Index task) {
  RandomStream random(o.seed, StreamPurpose::generate_task, static_cast<std::uint64_t>(task));
  GeneratedTask out;
  gmm::GmmMoments m;
  if (o.family == Family::uniform) {
    m = empty_moments(o.truth_covariance, o.components, o.dim);
    for (Index k = 0; k < o.components; ++k) {
      for (Index j = 0; j < o.dim; ++j) m.means(k, j) = uniform_in(-o.box, o.box, random);
      if (o.truth_covariance == CovarianceType::full) {
        m.covariances[k] = Matrix::Identity(o.dim, o.dim) * o.scale * o.scale;
      } else {
        m.variances.row(k).setConstant(o.scale * o.scale);
      }
    }
    out.truth.anchors.assign(o.components, -1);
  } else {
    // Keep each anchor with probability 1 - drop (at least one), in a random order.
    std::vector<Index> kept;
    for (Index k = 0; k < o.components; ++k)
      if (random.uniform() >= o.drop) kept.push_back(k);
    if (kept.empty()) kept.push_back(static_cast<Index>(random.below(o.components)));
    for (Index i = static_cast<Index>(kept.size()) - 1; i > 0; --i) std::swap(kept[i], kept[random.below(i + 1)]);
    gmm::GmmMoments family = gmm::to_moments(anchors);
    if (o.family == Family::transformed) family = transform_task(o, family, random);
    const Index C = static_cast<Index>(kept.size());
    m = empty_moments(o.truth_covariance, C, o.dim);
    for (Index c = 0; c < C; ++c) {
      const Index k = kept[c];
      for (Index j = 0; j < o.dim; ++j) {
        const double step = o.family == Family::heavy ? student_t(o.tail_dof, random) : random.normal();
        m.means(c, j) = family.means(k, j) + o.jitter * o.scale * step;
      }
      // Each task's spread differs from its anchor's by up to ~10%.
      const double stretch = std::exp(0.1 * random.normal());
      if (o.truth_covariance == CovarianceType::full) {
        m.covariances[c] = family.covariances[k] * stretch * stretch;
      } else {
        m.variances.row(c) = family.variances.row(k) * stretch * stretch;
      }
      out.truth.anchors.push_back(static_cast<std::int32_t>(k));
    }
  }
  m.weights = dirichlet(m.weights.size(), o.concentration, random);
  out.truth.model = gmm::from_moments(m);
  const Index n = static_cast<Index>(random.between(o.points_min, o.points_max));
  out.points = gmm::sample(out.truth.model, n, random, &out.labels);
  if (warp) out.points = warp->apply(out.points);
  return out;
}

void generate_task_set(const GeneratorOptions& o, const std::string& path, const std::function<void(Index)>& progress) {
  o.validate();
  const bool anchored = o.family != Family::uniform;
  const gmm::Gmm anchors = anchored ? family_anchors(o) : gmm::Gmm(gmm::GmmShape{1, o.dim, o.truth_covariance});
  std::optional<Warp> warp;
  if (o.family == Family::warped) warp = family_warp(o);
  TaskSetHeader header{o.dim, to_string(o.family), o.describe(), true, o.truth_covariance, warp};
  TaskSetWriter writer(path, header);
  for (Index t = 0; t < o.tasks; ++t) {
    const GeneratedTask task = generate_task(o, anchors, warp ? &*warp : nullptr, t);
    writer.add_task(task.points, &task.labels, &task.truth);
    if (progress && (t + 1) % 10000 == 0) progress(t + 1);
  }
  writer.finish(assign_splits(o.tasks, o.split, o.seed));
}

}  // namespace metagmm::task
