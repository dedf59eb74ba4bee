#include "catdog/data/split.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <random>

#include <spdlog/spdlog.h>

#include "catdog/base/error.h"

namespace catdog {

std::vector<size_t> shuffled_indices(size_t n, uint64_t seed) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  // Not std::shuffle: its draws are implementation-defined, this is not.
  std::mt19937_64 rng(seed);
  for (size_t i = n; i-- > 1;) std::swap(order[i], order[rng() % (i + 1)]);
  return order;
}

SplitKind split_kind(const std::vector<std::string>& class_names) {
  return is_cats_vs_dogs(class_names) ? SplitKind::Pooled : SplitKind::Stratified;
}

Split split_dataset(const std::vector<Sample>& samples, uint64_t seed, SplitKind kind) {
  const auto order = shuffled_indices(samples.size(), seed);
  // Per group (everything, or one class): its size and how many of it are placed so far.
  std::map<int64_t, std::pair<size_t, size_t>> groups;
  const auto group_of = [&](const Sample& sample) { return kind == SplitKind::Pooled ? int64_t{0} : sample.label; };
  for (const auto& sample : samples) ++groups[group_of(sample)].first;
  Split split;
  for (size_t index : order) {
    auto& [size, placed] = groups[group_of(samples[index])];
    const double n = static_cast<double>(size);
    const auto train_end = static_cast<size_t>(std::llround(0.8 * n));
    const auto validation_end = static_cast<size_t>(std::llround(0.9 * n));
    auto& part = placed < train_end ? split.train : placed < validation_end ? split.validation : split.test;
    part.push_back(samples[index]);
    ++placed;
  }
  return split;
}

Split split_dataset(const DatasetIndex& data, uint64_t seed) {
  Split split = split_dataset(data.samples, seed, split_kind(data.class_names));
  for (const char* name : {"validation", "test"}) {
    std::vector<bool> present(data.class_names.size(), false);
    for (const auto& sample : split_part(split, name)) present[static_cast<size_t>(sample.label)] = true;
    for (size_t label = 0; label < present.size(); ++label)
      if (!present[label])
        spdlog::warn("the {} split of {} has no image of class {}: add images of it (10 or more)", name,
                     data.root.string(), data.class_names[label]);
  }
  return split;
}

const std::vector<Sample>& split_part(const Split& split, const std::string& name) {
  if (name == "train") return split.train;
  if (name == "validation") return split.validation;
  if (name == "test") return split.test;
  throw Error("unknown split '" + name + "': use train, validation or test");
}


namespace {

constexpr uint64_t kFnvOffset = 1469598103934665603ull;

uint64_t fnv1a(uint64_t hash, const std::string& text) {
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

std::string hex16(uint64_t hash) {
  char text[20];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

}  // namespace

std::string samples_fingerprint(const std::vector<Sample>& samples) {
  uint64_t hash = kFnvOffset;
  for (const auto& sample : samples) hash = fnv1a(hash, sample.path + '\t' + std::to_string(sample.label) + '\n');
  return hex16(hash) + "-" + std::to_string(samples.size());
}

std::string dataset_fingerprint(const DatasetIndex& data) {
  if (is_cats_vs_dogs(data.class_names)) return samples_fingerprint(data.samples);
  uint64_t names = kFnvOffset;
  for (const auto& name : data.class_names) names = fnv1a(names, name + '\n');
  return samples_fingerprint(data.samples) + "-" + hex16(names);
}

}  // namespace catdog
