#include <random>
#include <set>

#include <gtest/gtest.h>

#include "catdog/base/error.h"
#include "catdog/data/split.h"
#include "test_support.h"

namespace catdog {
namespace {

std::vector<Sample> numbered_samples(size_t n) {
  std::vector<Sample> samples;
  for (size_t i = 0; i < n; ++i) samples.push_back({"img/" + std::to_string(i) + ".jpg", static_cast<int64_t>(i % 2)});
  return samples;
}

std::vector<std::string> paths(const std::vector<Sample>& samples) {
  std::vector<std::string> out;
  for (const auto& sample : samples) out.push_back(sample.path);
  return out;
}

TEST(Split, PetImagesArchiveSizes) {
  const auto split = split_dataset(numbered_samples(23262));
  EXPECT_EQ(split.train.size(), 18610u);
  EXPECT_EQ(split.validation.size(), 2326u);
  EXPECT_EQ(split.test.size(), 2326u);
}

TEST(Split, DevSetAndSmallSizes) {
  const auto dev = split_dataset(numbered_samples(3000));
  EXPECT_EQ(dev.train.size(), 2400u);
  EXPECT_EQ(dev.validation.size(), 300u);
  EXPECT_EQ(dev.test.size(), 300u);
  const auto small = split_dataset(numbered_samples(7));  // cuts at round(5.6) = 6 and round(6.3) = 6
  EXPECT_EQ(small.train.size(), 6u);
  EXPECT_EQ(small.validation.size(), 0u);
  EXPECT_EQ(small.test.size(), 1u);
  const auto none = split_dataset({});
  EXPECT_TRUE(none.train.empty() && none.validation.empty() && none.test.empty());
}

TEST(Split, DisjointAndCoversEverySampleOnce) {
  const auto samples = numbered_samples(1001);
  const auto split = split_dataset(samples, 7);
  std::multiset<std::string> seen;
  for (const auto* part : {&split.train, &split.validation, &split.test})
    for (const auto& sample : *part) seen.insert(sample.path);
  EXPECT_EQ(seen.size(), samples.size());
  for (const auto& sample : samples) EXPECT_EQ(seen.count(sample.path), 1u) << sample.path;
}

TEST(Split, LabelsTravelWithTheirSamples) {
  const auto split = split_dataset(numbered_samples(100));
  for (const auto& sample : split.train) EXPECT_EQ(sample.label, std::stoi(sample.path.substr(4)) % 2);
}

TEST(Split, DeterministicPerSeedAndDifferentAcrossSeeds) {
  const auto samples = numbered_samples(500);
  EXPECT_EQ(paths(split_dataset(samples, 1).train), paths(split_dataset(samples, 1).train));
  EXPECT_NE(paths(split_dataset(samples, 1).train), paths(split_dataset(samples, 2).train));
  EXPECT_NE(paths(split_dataset(samples, 1).train), paths(std::vector<Sample>(samples.begin(), samples.begin() + 400)))
      << "the split must shuffle";
}

// Pins the shuffle itself: a change of RNG, draw or loop direction changes
// every split, so it must show here. Expected values follow the documented
// recipe (Fisher-Yates from the back, j = mt19937_64() % (i + 1)).
TEST(Split, ShuffleFollowsTheDocumentedRecipe) {
  std::vector<size_t> expected = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::mt19937_64 rng(kDefaultSplitSeed);
  for (size_t i = 9; i >= 1; --i) std::swap(expected[i], expected[rng() % (i + 1)]);
  EXPECT_EQ(shuffled_indices(10, kDefaultSplitSeed), expected);
  EXPECT_EQ(shuffled_indices(1, 5), std::vector<size_t>{0});
  EXPECT_TRUE(shuffled_indices(0, 5).empty());
}

TEST(Split, PartByName) {
  const auto split = split_dataset(numbered_samples(10));
  EXPECT_EQ(&split_part(split, "train"), &split.train);
  EXPECT_EQ(&split_part(split, "validation"), &split.validation);
  EXPECT_EQ(&split_part(split, "test"), &split.test);
  EXPECT_EQ(testing::error_of([&] { split_part(split, "val"); }), "unknown split 'val': use train, validation or test");
}

// Labels 0..classes-1 in the given counts, paths numbered.
DatasetIndex dataset_of(const std::vector<std::string>& class_names, const std::vector<size_t>& counts) {
  DatasetIndex data;
  data.class_names = class_names;
  for (size_t label = 0; label < counts.size(); ++label)
    for (size_t i = 0; i < counts[label]; ++i)
      data.samples.push_back({class_names[label] + "/" + std::to_string(i) + ".jpg", static_cast<int64_t>(label)});
  return data;
}

std::vector<size_t> per_class(const std::vector<Sample>& part, size_t classes) {
  std::vector<size_t> counts(classes, 0);
  for (const auto& sample : part) ++counts[static_cast<size_t>(sample.label)];
  return counts;
}

TEST(Split, StratifiedCutsEveryClassEightyTenTen) {
  const auto data = dataset_of({"daisy", "rose", "tulip"}, {100, 37, 9});
  const auto split = split_dataset(data, 11);
  // round(0.8 n) and round(0.9 n) of each class: 80/10/10, 30/3/4, 7/1/1.
  EXPECT_EQ(per_class(split.train, 3), (std::vector<size_t>{80, 30, 7}));
  EXPECT_EQ(per_class(split.validation, 3), (std::vector<size_t>{10, 3, 1}));
  EXPECT_EQ(per_class(split.test, 3), (std::vector<size_t>{10, 4, 1}));
  // Deterministic, and another seed draws other members.
  EXPECT_EQ(paths(split_dataset(data, 11).test), paths(split.test));
  EXPECT_NE(paths(split_dataset(data, 12).test), paths(split.test));
  std::set<std::string> all;
  for (const auto* part : {&split.train, &split.validation, &split.test})
    for (const auto& sample : *part) EXPECT_TRUE(all.insert(sample.path).second) << sample.path;
  EXPECT_EQ(all.size(), data.samples.size());
}

// cat/dog keeps the split it always had: the cuts of the whole shuffled list.
TEST(Split, CatsVsDogsKeepsThePooledSplit) {
  const auto data = dataset_of({"cat", "dog"}, {700, 300});
  EXPECT_EQ(split_kind(data.class_names), SplitKind::Pooled);
  EXPECT_EQ(split_kind({"apple", "pear"}), SplitKind::Stratified);
  const auto order = shuffled_indices(data.samples.size(), kDefaultSplitSeed);
  std::vector<std::string> expected_test;
  for (size_t k = 900; k < 1000; ++k) expected_test.push_back(data.samples[order[k]].path);
  const auto split = split_dataset(data, kDefaultSplitSeed);
  EXPECT_EQ(paths(split.test), expected_test);
  EXPECT_EQ(split.train.size(), 800u);
  EXPECT_NE(per_class(split.test, 2), (std::vector<size_t>{70, 30})) << "not stratified: these draws differ from 70/30";
}

TEST(Split, TheDatasetFingerprintCoversTheClassList) {
  auto data = dataset_of({"cat", "dog"}, {5, 5});
  EXPECT_EQ(dataset_fingerprint(data), samples_fingerprint(data.samples)) << "cat/dog fingerprints stay as they were";
  auto renamed = data;
  renamed.class_names = {"cat", "fox"};
  auto other = data;
  other.class_names = {"cat", "wolf"};
  EXPECT_NE(dataset_fingerprint(renamed), dataset_fingerprint(data));
  EXPECT_NE(dataset_fingerprint(renamed), dataset_fingerprint(other));
  EXPECT_EQ(dataset_fingerprint(renamed), dataset_fingerprint(renamed));
}

}  // namespace
}  // namespace catdog
