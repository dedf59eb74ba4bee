#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace catdog {

struct ClassMetrics {
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0;  // images whose true class this is
};

// counts[truth][predicted].
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int num_classes);
  void add(int64_t truth, int64_t predicted);
  int64_t count(int64_t truth, int64_t predicted) const;
  int num_classes() const { return static_cast<int>(counts_.size()); }
  int64_t total() const;
  double accuracy() const;
  // 0 where undefined (no predictions / no images of the class), as sklearn.
  ClassMetrics class_metrics(int64_t label) const;
  // The classes' metrics averaged as sklearn's classification_report: macro
  // (every class alike) and weighted (by support); support is every image.
  ClassMetrics macro_average() const;
  ClassMetrics weighted_average() const;

 private:
  std::vector<std::vector<int64_t>> counts_;
};

// fastai's top losses, the one ranking of mistakes: the indices of the wrong
// predictions (argmax != truth) among `probabilities` (a row per image, each
// image's class in `truths`), largest loss -log p(truth) first, ties in input
// order; at most `count`.
std::vector<size_t> top_losses(const std::vector<std::vector<double>>& probabilities,
                               const std::vector<int64_t>& truths, size_t count);

}  // namespace catdog
