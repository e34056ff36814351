#pragma once
// N-way K-shot episodes for Prototypical Networks (docs/design.md, "ProtoNet") from labelled tasks.
// A task's classes are its labels: the components of a generated task, or the classes of an
// imported pool (`metagmm import --class-split` stores each split's classes as one task).
// An episode picks a task of the split, `ways` of its classes that have at least
// shots + queries + unlabelled points, and from each class `shots` support points, `queries`
// query points and `unlabelled` points whose labels the learner does not see; optionally
// `distractor_classes` further classes add `unlabelled` points each (Ren et al. 2018).
// Episode j of meta-step t is a pure function of (seed, t, j), like the mixture algorithms'.
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "metagmm/task/sampler.hpp"

namespace metagmm::task {

struct FewShotOptions {
  Index ways = 5;                 // --ways: classes per episode
  Index shots = 1;                // --shots: labelled support points per class
  Index queries = 15;             // --queries: query points per class
  Index unlabelled = 0;           // --unlabelled: unlabelled points per class (refinement)
  Index distractor_classes = 0;   // --distractor-classes: classes outside the episode adding
                                  // `unlabelled` points each
  Index validation_episodes = 256;  // fixed validation episodes available to the loop
  Index validation_ways = 0;      // --validation-ways: classes per validation episode; 0: --ways, or
                                  // fewer when no validation task has that many (held-out classes)
  Index points_per_class() const { return shots + queries + unlabelled; }
  void validate() const;          // InputError naming the option
};

class FewShotSampler final : public EpisodeSource {
 public:
  // Throws InputError if the source has no labels or no train tasks.
  FewShotSampler(TaskSource& source, const FewShotOptions& options, std::uint64_t seed);
  // Draws a training and a validation episode, so that tasks too small for the episode shape
  // are reported (InputError) before training starts rather than at its first step.
  void check_training_episodes();
  void training(std::int64_t step, Index j, Episode& out) override;
  // Validation episode v, drawn from the validation split (the train split if it is empty), with
  // validation_ways() classes.
  void validation(Index v, Episode& out) override;
  Index validation_ways();
  Index validation_count() const override { return options_.validation_episodes; }
  // Evaluation episode e of `split` (its own random stream, apart from training's).
  void evaluation(Split split, Index e, Episode& out);

 private:
  struct TaskClasses {
    std::vector<std::vector<Index>> rows;  // each class's rows in the task
    std::vector<Index> full;               // classes with points_per_class() points or more
  };
  const TaskClasses& classes_of(Index task);
  // Throws InputError when no task of the split can give an episode in many tries.
  void draw(Split split, Index ways, RandomStream& random, Episode& out);
  bool draw_from(Index task, Index ways, RandomStream& random, Episode& out);
  Split validation_split() const;

  TaskSource& source_;
  FewShotOptions options_;
  std::uint64_t seed_;
  std::unordered_map<Index, TaskClasses> classes_;
  std::vector<Index> scratch_, chosen_;
  Index validation_ways_ = 0;  // validation_ways(), once found
};

// Labels as classes 0..C-1 in increasing label order, -1 (unknown) kept.
IntVector class_numbers(const IntVector& labels);

}  // namespace metagmm::task
