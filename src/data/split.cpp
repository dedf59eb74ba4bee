#include "catdog/data/split.h"

#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>

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

Split split_dataset(const std::vector<Sample>& samples, uint64_t seed) {
  const auto order = shuffled_indices(samples.size(), seed);
  const double n = static_cast<double>(samples.size());
  const auto train_end = static_cast<size_t>(std::llround(0.8 * n));
  const auto validation_end = static_cast<size_t>(std::llround(0.9 * n));
  Split split;
  for (size_t k = 0; k < order.size(); ++k) {
    auto& part = k < train_end ? split.train : k < validation_end ? split.validation : split.test;
    part.push_back(samples[order[k]]);
  }
  return split;
}

const std::vector<Sample>& split_part(const Split& split, const std::string& name) {
  if (name == "train") return split.train;
  if (name == "validation") return split.validation;
  if (name == "test") return split.test;
  throw Error("unknown split '" + name + "': use train, validation or test");
}


std::string samples_fingerprint(const std::vector<Sample>& samples) {
  uint64_t hash = 1469598103934665603ull;
  const auto mix = [&](const std::string& text) {
    for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  };
  for (const auto& sample : samples) mix(sample.path + '\t' + std::to_string(sample.label) + '\n');
  char text[40];
  std::snprintf(text, sizeof text, "%016llx-", static_cast<unsigned long long>(hash));
  return text + std::to_string(samples.size());
}

}  // namespace catdog
