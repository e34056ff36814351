#pragma once
// The classifier of Prototypical Networks on embedded points (docs/design.md, "ProtoNet"), with its
// exact reverse pass. The prototype of class k is the mean of its embedded support points,
// c_k = S_k / n_k, and a query z is scored by p(k | z) = softmax_k(-|z - c_k|^2): a mixture in
// the embedding with equal weights and one shared isotropic covariance.
//
// Semi-supervised refinement (Ren et al. 2018, "soft k-means"): each step assigns the
// unlabelled points u softly to the current prototypes, r_uk = softmax_k(-|u - c_k|^2), and
// re-estimates c_k = (S_k + sum_u r_uk u) / (n_k + sum_u r_uk) from the labelled sums and the
// soft counts. With a distractor cluster, one more cluster fixed at the origin takes part in
// the softmax and absorbs unlabelled points of classes outside the episode; it is not a class.
// Every step is differentiated exactly, so refinement can be used in training too.
#include "metagmm/core/types.hpp"

namespace metagmm::meta {

struct RefinementOptions {
  int steps = 0;            // soft k-means steps on the unlabelled points (0: plain prototypes)
  bool distractor = false;  // add the distractor cluster at the origin
  void validate() const;    // InputError naming the option
};

// Rows of an embedded episode: the support (ways x shots, grouped by class), then the queries,
// then the unlabelled points.
struct EpisodeLayout {
  Index ways = 0, shots = 0, queries = 0, unlabelled = 0;
  Index rows() const { return ways * shots + queries + unlabelled; }
};

class PrototypeClassifier {
 public:
  // The mean query loss -log p(label | query); keeps what backward() needs.
  double forward(const RowMatrix& embedded, const EpisodeLayout& layout, const IntVector& query_labels,
                 const RefinementOptions& refine);
  // d(mean query loss)/d(embedded), for the last forward().
  void backward(RowMatrix& gradient);
  // Query points whose most probable class is their label, in the last forward().
  Index correct() const;
  // The prototypes used to classify (after refinement), ways x e.
  const RowMatrix& prototypes() const { return centers_.back(); }

 private:
  EpisodeLayout layout_;
  RefinementOptions refine_;
  const RowMatrix* embedded_ = nullptr;
  IntVector labels_;
  RowMatrix sums_;                    // S: per-class sums of the embedded support
  std::vector<RowMatrix> centers_;    // c after 0 .. steps refinement steps
  std::vector<RowMatrix> soft_;       // each step's soft assignments r (unlabelled x clusters)
  std::vector<Vector> counts_;        // each step's n_k + sum_u r_uk
  RowMatrix query_probabilities_;     // queries x ways
  RowMatrix query_logits_;            // queries x ways, -|x - c|^2: the class decisions (exactly scale-invariant)
};

}  // namespace metagmm::meta
