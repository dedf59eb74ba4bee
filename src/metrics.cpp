#include "catdog/metrics.h"

#include "catdog/error.h"

namespace catdog {

ConfusionMatrix::ConfusionMatrix(int num_classes) {
  if (num_classes < 1) throw Error("a confusion matrix needs at least one class");
  counts_.assign(static_cast<size_t>(num_classes), std::vector<int64_t>(static_cast<size_t>(num_classes), 0));
}

void ConfusionMatrix::add(int64_t truth, int64_t predicted) {
  const int64_t n = num_classes();
  if (truth < 0 || truth >= n || predicted < 0 || predicted >= n)
    throw Error("class label out of range (truth " + std::to_string(truth) + ", predicted " +
                std::to_string(predicted) + ", " + std::to_string(n) + " classes)");
  ++counts_[static_cast<size_t>(truth)][static_cast<size_t>(predicted)];
}

int64_t ConfusionMatrix::count(int64_t truth, int64_t predicted) const {
  return counts_.at(static_cast<size_t>(truth)).at(static_cast<size_t>(predicted));
}

int64_t ConfusionMatrix::total() const {
  int64_t sum = 0;
  for (const auto& row : counts_)
    for (int64_t value : row) sum += value;
  return sum;
}

double ConfusionMatrix::accuracy() const {
  const int64_t all = total();
  if (all == 0) return 0;
  int64_t correct = 0;
  for (int i = 0; i < num_classes(); ++i) correct += counts_[static_cast<size_t>(i)][static_cast<size_t>(i)];
  return static_cast<double>(correct) / static_cast<double>(all);
}

ClassMetrics ConfusionMatrix::class_metrics(int64_t label) const {
  const int64_t true_positives = count(label, label);
  int64_t predicted_as_label = 0, actually_label = 0;
  for (int64_t other = 0; other < num_classes(); ++other) {
    predicted_as_label += count(other, label);
    actually_label += count(label, other);
  }
  ClassMetrics metrics;
  metrics.support = actually_label;
  if (predicted_as_label > 0)
    metrics.precision = static_cast<double>(true_positives) / static_cast<double>(predicted_as_label);
  if (actually_label > 0)
    metrics.recall = static_cast<double>(true_positives) / static_cast<double>(actually_label);
  if (metrics.precision + metrics.recall > 0)
    metrics.f1 = 2 * metrics.precision * metrics.recall / (metrics.precision + metrics.recall);
  return metrics;
}

}  // namespace catdog
