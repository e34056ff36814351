#include "metagmm/meta/prototypes.hpp"

#include <cmath>

#include "metagmm/core/error.hpp"

namespace metagmm::meta {
namespace {

// -|x_i - c_k|^2 for every row pair, by the expansion |x|^2 - 2 x.c + |c|^2 (one matrix product).
void negative_squared_distances(const auto& points, const RowMatrix& centers, RowMatrix& out) {
  out.noalias() = 2.0 * points * centers.transpose();
  out.colwise() -= points.rowwise().squaredNorm();
  out.rowwise() -= centers.rowwise().squaredNorm().transpose();
}

// Row-wise softmax in place (max subtracted: the logits are distances and can be large).
void softmax_rows(RowMatrix& logits) {
  for (Index i = 0; i < logits.rows(); ++i) {
    auto row = logits.row(i);
    row.array() = (row.array() - row.maxCoeff()).exp();
    row /= row.sum();
  }
}

}  // namespace

void RefinementOptions::validate() const {
  if (steps < 0) throw SettingError("refine-steps", "expected an integer >= 0");
}

double PrototypeClassifier::forward(const RowMatrix& embedded, const EpisodeLayout& layout,
                                    const IntVector& query_labels, const RefinementOptions& refine) {
  METAGMM_CHECK(embedded.rows() == layout.rows(), "prototypes: episode rows");
  METAGMM_CHECK(query_labels.size() == layout.queries, "prototypes: query labels");
  METAGMM_CHECK(refine.steps == 0 || layout.unlabelled > 0, "prototypes: refinement needs unlabelled points");
  layout_ = layout;
  refine_ = refine;
  embedded_ = &embedded;
  labels_ = query_labels;
  const Index N = layout.ways, K = layout.shots, e = embedded.cols();
  const auto unlabelled = embedded.bottomRows(layout.unlabelled);
  sums_.resize(N, e);
  for (Index k = 0; k < N; ++k) sums_.row(k) = embedded.middleRows(k * K, K).colwise().sum();
  centers_.assign(1, sums_ / static_cast<double>(K));
  soft_.clear();
  counts_.clear();
  const Index clusters = N + (refine.distractor ? 1 : 0);
  RowMatrix padded(clusters, e);  // the prototypes and, last, the distractor at the origin
  for (int t = 0; t < refine.steps; ++t) {
    padded.topRows(N) = centers_.back();
    if (refine.distractor) padded.row(N).setZero();
    RowMatrix r;
    negative_squared_distances(unlabelled, padded, r);
    softmax_rows(r);
    Vector counts = r.leftCols(N).colwise().sum().transpose().array() + static_cast<double>(K);
    RowMatrix refined = sums_;
    refined.noalias() += r.leftCols(N).transpose() * unlabelled;
    refined.array().colwise() /= counts.array();
    soft_.push_back(std::move(r));
    counts_.push_back(std::move(counts));
    centers_.push_back(std::move(refined));
  }
  negative_squared_distances(embedded.middleRows(N * K, layout.queries), centers_.back(), query_probabilities_);
  query_logits_ = query_probabilities_;  // correct() decides on these: exp() can round near-ties together
  double loss = 0.0;
  for (Index q = 0; q < layout.queries; ++q) {
    auto row = query_probabilities_.row(q);
    const double top = row.maxCoeff();
    const double log_normaliser = top + std::log((row.array() - top).exp().sum());
    loss -= row[labels_[q]] - log_normaliser;
    row.array() = (row.array() - log_normaliser).exp();
  }
  return loss / static_cast<double>(layout.queries);
}

Index PrototypeClassifier::correct() const {
  Index right = 0;
  for (Index q = 0; q < layout_.queries; ++q) {
    Index best = 0;
    query_logits_.row(q).maxCoeff(&best);
    right += best == labels_[q] ? 1 : 0;
  }
  return right;
}

// Reverse mode through the forward pass above. For logits l_ik = -|x_i - c_k|^2 and upstream
// g = dL/dl: dx_i = -2 (sum_k g_ik) x_i + 2 sum_k g_ik c_k, dc_k = 2 sum_i g_ik x_i - 2 (sum_i g_ik) c_k.
void PrototypeClassifier::backward(RowMatrix& gradient) {
  const RowMatrix& embedded = *embedded_;
  const Index N = layout_.ways, K = layout_.shots, Q = layout_.queries, e = embedded.cols();
  gradient.setZero(embedded.rows(), e);
  const auto queries = embedded.middleRows(N * K, Q);
  const auto unlabelled = embedded.bottomRows(layout_.unlabelled);
  auto query_gradient = gradient.middleRows(N * K, Q);
  auto unlabelled_gradient = gradient.bottomRows(layout_.unlabelled);

  // The loss's gradient in the query logits: (p - onehot) / Q.
  RowMatrix g = query_probabilities_;
  for (Index q = 0; q < Q; ++q) g(q, labels_[q]) -= 1.0;
  g /= static_cast<double>(Q);
  const RowMatrix& final_centers = centers_.back();
  const Vector query_sums = g.rowwise().sum();  // zero up to rounding: p and the one-hot both sum to 1
  query_gradient.noalias() = 2.0 * g * final_centers;
  query_gradient -= 2.0 * (query_sums.asDiagonal() * queries);
  RowMatrix center_gradient = 2.0 * g.transpose() * queries;
  center_gradient -= 2.0 * (g.colwise().sum().transpose().asDiagonal() * final_centers);

  RowMatrix sum_gradient = RowMatrix::Zero(N, e);
  for (int t = refine_.steps - 1; t >= 0; --t) {
    const RowMatrix& r = soft_[static_cast<std::size_t>(t)];
    const Vector& counts = counts_[static_cast<std::size_t>(t)];
    const RowMatrix& refined = centers_[static_cast<std::size_t>(t + 1)];
    const RowMatrix& previous = centers_[static_cast<std::size_t>(t)];
    // c = A / B with A = S + r^T U and B = n + sum_u r: dA = dc / B, dB = -(dc . c) / B.
    const RowMatrix dA = counts.cwiseInverse().asDiagonal() * center_gradient;
    const Vector dB = -(center_gradient.cwiseProduct(refined).rowwise().sum().array() / counts.array()).matrix();
    sum_gradient += dA;
    unlabelled_gradient.noalias() += r.leftCols(N) * dA;
    // dL/dr (the distractor's column has none: its centre is not re-estimated) ...
    RowMatrix dr = RowMatrix::Zero(r.rows(), r.cols());
    dr.leftCols(N).noalias() = unlabelled * dA.transpose();
    dr.leftCols(N).rowwise() += dB.transpose();
    // ... through the softmax to the logits ...
    const Vector inner = r.cwiseProduct(dr).rowwise().sum();
    const RowMatrix dl = r.cwiseProduct(dr - inner.replicate(1, r.cols()));
    // ... and through the distances to the unlabelled points and the previous prototypes.
    const Vector logit_sums = dl.rowwise().sum();
    unlabelled_gradient.noalias() += 2.0 * dl.leftCols(N) * previous;
    unlabelled_gradient -= 2.0 * (logit_sums.asDiagonal() * unlabelled);
    center_gradient.noalias() = 2.0 * dl.leftCols(N).transpose() * unlabelled;
    center_gradient -= 2.0 * (dl.leftCols(N).colwise().sum().transpose().asDiagonal() * previous);
  }
  // c_0 = S / n, and S sums the class's support rows.
  sum_gradient += center_gradient / static_cast<double>(K);
  for (Index k = 0; k < N; ++k) gradient.middleRows(k * K, K).rowwise() = sum_gradient.row(k);
}

}  // namespace metagmm::meta
