#include <gtest/gtest.h>

#include "catdog/base/error.h"
#include "catdog/infer/metrics.h"

namespace catdog {
namespace {

// truth/predicted pairs: 3 cats right, 1 cat called dog, 2 dogs right, 2 dogs called cat.
ConfusionMatrix known_predictions() {
  ConfusionMatrix matrix(2);
  for (int i = 0; i < 3; ++i) matrix.add(0, 0);
  matrix.add(0, 1);
  for (int i = 0; i < 2; ++i) matrix.add(1, 1);
  for (int i = 0; i < 2; ++i) matrix.add(1, 0);
  return matrix;
}

TEST(ConfusionMatrix, CountsEveryPairWhereItBelongs) {
  const auto matrix = known_predictions();
  EXPECT_EQ(matrix.num_classes(), 2);
  EXPECT_EQ(matrix.count(0, 0), 3);
  EXPECT_EQ(matrix.count(0, 1), 1);
  EXPECT_EQ(matrix.count(1, 0), 2);
  EXPECT_EQ(matrix.count(1, 1), 2);
  EXPECT_EQ(matrix.total(), 8);
  EXPECT_DOUBLE_EQ(matrix.accuracy(), 5.0 / 8.0);
}

TEST(ConfusionMatrix, PrecisionRecallF1MatchTheirDefinitions) {
  const auto matrix = known_predictions();
  const auto cat = matrix.class_metrics(0);
  EXPECT_DOUBLE_EQ(cat.precision, 3.0 / 5.0);  // 5 predicted cat, 3 of them cats
  EXPECT_DOUBLE_EQ(cat.recall, 3.0 / 4.0);     // 4 cats, 3 found
  EXPECT_DOUBLE_EQ(cat.f1, 2 * 0.6 * 0.75 / (0.6 + 0.75));
  EXPECT_EQ(cat.support, 4);
  const auto dog = matrix.class_metrics(1);
  EXPECT_DOUBLE_EQ(dog.precision, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(dog.recall, 2.0 / 4.0);
  EXPECT_DOUBLE_EQ(dog.f1, 2 * (2.0 / 3.0) * 0.5 / (2.0 / 3.0 + 0.5));
  EXPECT_EQ(dog.support, 4);
}

// sklearn's classification_report on y_true = [0]*6 + [1]*3 + [2], y_pred =
// [0,0,0,0,1,2, 1,1,0, 2]: macro avg 0.6556 / 0.7778 / 0.6869, weighted avg
// 0.7300 / 0.7000 / 0.7030 (precision / recall / f1).
TEST(ConfusionMatrix, MacroAndWeightedAveragesMatchSklearn) {
  ConfusionMatrix matrix(3);
  for (const auto& [truth, predicted] :
       std::vector<std::pair<int, int>>{{0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 1}, {0, 2}, {1, 1}, {1, 1}, {1, 0}, {2, 2}})
    matrix.add(truth, predicted);
  const auto macro = matrix.macro_average();
  EXPECT_NEAR(macro.precision, 0.6556, 1e-4);
  EXPECT_NEAR(macro.recall, 0.7778, 1e-4);
  EXPECT_NEAR(macro.f1, 0.6869, 1e-4);
  EXPECT_EQ(macro.support, 10);
  const auto weighted = matrix.weighted_average();
  EXPECT_NEAR(weighted.precision, 0.7300, 1e-4);
  EXPECT_NEAR(weighted.recall, 0.7000, 1e-4);
  EXPECT_NEAR(weighted.f1, 0.7030, 1e-4);
  EXPECT_EQ(weighted.support, 10);
}

TEST(ConfusionMatrix, UndefinedMetricsAreZeroAsInSklearn) {
  ConfusionMatrix always_cat(2);
  always_cat.add(0, 0);
  always_cat.add(1, 0);
  const auto dog = always_cat.class_metrics(1);  // never predicted: precision 0/0
  EXPECT_EQ(dog.precision, 0);
  EXPECT_EQ(dog.recall, 0);
  EXPECT_EQ(dog.f1, 0);
  EXPECT_EQ(dog.support, 1);

  ConfusionMatrix only_cats(2);
  only_cats.add(0, 0);
  const auto absent = only_cats.class_metrics(1);  // no dogs at all: recall 0/0
  EXPECT_EQ(absent.recall, 0);
  EXPECT_EQ(absent.support, 0);
  const auto cat = only_cats.class_metrics(0);
  EXPECT_EQ(cat.precision, 1);
  EXPECT_EQ(cat.recall, 1);
  EXPECT_EQ(cat.f1, 1);

  const ConfusionMatrix empty(2);
  EXPECT_EQ(empty.total(), 0);
  EXPECT_EQ(empty.accuracy(), 0);
}

TEST(ConfusionMatrix, RejectsLabelsOutsideTheClasses) {
  ConfusionMatrix matrix(2);
  EXPECT_THROW(matrix.add(2, 0), Error);
  EXPECT_THROW(matrix.add(0, -1), Error);
  EXPECT_EQ(matrix.total(), 0);
  EXPECT_THROW(ConfusionMatrix(0), Error);
}

TEST(ConfusionMatrix, WorksForMoreThanTwoClasses) {
  ConfusionMatrix matrix(3);
  matrix.add(2, 2);
  matrix.add(2, 1);
  matrix.add(1, 2);
  EXPECT_EQ(matrix.count(2, 1), 1);
  EXPECT_DOUBLE_EQ(matrix.class_metrics(2).precision, 0.5);
  EXPECT_DOUBLE_EQ(matrix.class_metrics(2).recall, 0.5);
  EXPECT_DOUBLE_EQ(matrix.accuracy(), 1.0 / 3.0);
}

TEST(TopLosses, TheLargestLossesAmongTheMistakesFirst) {
  // Rows 1 and 3 are right; row 2 gives the truth the least (0.02), then row 0 (0.3), then row 4 (0.4).
  const std::vector<std::vector<double>> p = {{0.3, 0.7}, {0.9, 0.1}, {0.02, 0.98}, {0.4, 0.6}, {0.4, 0.6}};
  const std::vector<int64_t> truths = {0, 0, 0, 1, 0};
  EXPECT_EQ(top_losses(p, truths, 10), (std::vector<size_t>{2, 0, 4}));
  EXPECT_EQ(top_losses(p, truths, 1), (std::vector<size_t>{2}));
  EXPECT_TRUE(top_losses({p[1], p[3]}, {0, 1}, 5).empty());
  EXPECT_THROW(top_losses(p, {0}, 5), Error);
}

// With three classes the loss, not the confidence in the wrong class, ranks:
// row 0 is the more confident mistake but row 1 gives its truth less.
TEST(TopLosses, RankByTheTruthsProbabilityNotTheWinnersConfidence) {
  const std::vector<std::vector<double>> p = {{0.3, 0.7, 0.0}, {0.05, 0.5, 0.45}};
  EXPECT_EQ(top_losses(p, {0, 0}, 2), (std::vector<size_t>{1, 0}));
}

}  // namespace
}  // namespace catdog
