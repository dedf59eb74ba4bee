#include "catdog/infer/metrics.h"

#include <algorithm>

#include "catdog/base/error.h"

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

namespace {

ClassMetrics average(const ConfusionMatrix& matrix, bool by_support) {
  ClassMetrics mean;
  double weights = 0;
  for (int label = 0; label < matrix.num_classes(); ++label) {
    const ClassMetrics m = matrix.class_metrics(label);
    const double weight = by_support ? static_cast<double>(m.support) : 1.0;
    mean.precision += weight * m.precision;
    mean.recall += weight * m.recall;
    mean.f1 += weight * m.f1;
    mean.support += m.support;
    weights += weight;
  }
  if (weights > 0) {
    mean.precision /= weights;
    mean.recall /= weights;
    mean.f1 /= weights;
  }
  return mean;
}

}  // namespace

ClassMetrics ConfusionMatrix::macro_average() const { return average(*this, false); }
ClassMetrics ConfusionMatrix::weighted_average() const { return average(*this, true); }

std::vector<size_t> top_losses(const std::vector<std::vector<double>>& probabilities,
                               const std::vector<int64_t>& truths, size_t count) {
  if (probabilities.size() != truths.size()) throw Error("top losses: one class per row of probabilities needed");
  const auto truth_probability = [&](size_t i) {
    const auto truth = truths[i];
    return truth >= 0 && static_cast<size_t>(truth) < probabilities[i].size() ? probabilities[i][static_cast<size_t>(truth)]
                                                                               : 0.0;
  };
  std::vector<size_t> wrong;
  for (size_t i = 0; i < probabilities.size(); ++i) {
    const auto& p = probabilities[i];
    if (p.empty()) continue;
    if (std::max_element(p.begin(), p.end()) - p.begin() != truths[i]) wrong.push_back(i);
  }
  // Least probability on the truth = largest loss; ties keep the input order.
  std::stable_sort(wrong.begin(), wrong.end(),
                   [&](size_t a, size_t b) { return truth_probability(a) < truth_probability(b); });
  if (wrong.size() > count) wrong.resize(count);
  return wrong;
}

}  // namespace catdog
