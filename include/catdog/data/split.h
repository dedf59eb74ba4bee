#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "catdog/data/dataset.h"

namespace catdog {

// The one place the train/validation/test split is defined:
//  1. take the kept samples sorted by relative path (scan_dataset does this),
//  2. shuffle them with Fisher-Yates driven by std::mt19937_64(seed), drawing
//     j = rng() % (i + 1) so every platform gives the same order,
//  3. cut at round(0.8 n) and round(0.9 n): train, validation, test, either of
//     the whole list (pooled) or of each class's samples in that order
//     (stratified; the parts keep the shuffled order).
// On the full PetImages archive (23,262 kept) pooled gives 18,610 / 2,326 / 2,326.
inline constexpr uint64_t kDefaultSplitSeed = 20260101;

struct Split {
  std::vector<Sample> train;
  std::vector<Sample> validation;
  std::vector<Sample> test;
};

// 0..n-1 shuffled by Fisher-Yates from the back (i = n-1 .. 1, j = rng() % (i + 1),
// swap) with std::mt19937_64(seed): the one shuffle of the project, identical on
// every platform (the split, and the loader's per-epoch order).
std::vector<size_t> shuffled_indices(size_t n, uint64_t seed);

// Pooled: the cuts of the whole list, as TFDS cuts cats_vs_dogs (and catdog
// always cut cat/dog: its runs keep their splits). Stratified: every class
// 80/10/10 on its own, so that a rare class still reaches validation and test.
enum class SplitKind { Pooled, Stratified };
// Pooled for the cats_vs_dogs classes (cat, dog), stratified for any other list.
SplitKind split_kind(const std::vector<std::string>& class_names);

Split split_dataset(const std::vector<Sample>& samples, uint64_t seed = kDefaultSplitSeed,
                    SplitKind kind = SplitKind::Pooled);
// `data`'s split, of the kind its classes take; a warning names each class
// that the validation or test part lacks (its numbers would say nothing of it).
Split split_dataset(const DatasetIndex& data, uint64_t seed);

// "train" | "validation" | "test" -> the part; anything else is an Error.
const std::vector<Sample>& split_part(const Split& split, const std::string& name);

// Names a sample list: FNV-1a over every (path, label) in order, plus the
// count, e.g. "9f3c...-3000". Equal lists give equal fingerprints; a run
// records its dataset's so that evaluating on another dataset (whose split
// would mix training photos into the test set) can be noticed.
std::string samples_fingerprint(const std::vector<Sample>& samples);
// A dataset's fingerprint: its samples' and, unless they are cat and dog (whose
// fingerprints stay what they were), its class names'.
std::string dataset_fingerprint(const DatasetIndex& data);

}  // namespace catdog
