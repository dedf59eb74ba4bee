#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/data/dataset.h"
#include "catdog/data/split.h"

namespace catdog {

// `catdog data`: what a dataset folder holds and the split `train` would cut
// from it. Every file is decoded once to find the undecodable ones; they stay
// in the split, as in training (where the loader skips each as it meets it),
// so `data` and `train` split the very same list of files.
struct DatasetReport {
  DatasetIndex index;               // samples: the files training uses
  std::vector<Sample> undecodable;  // among them, the ones that fail to decode
  uint64_t split_seed = 0;
  Split split;
};
// `only_classes`: as scan_dataset's (empty: every class).
DatasetReport report_dataset(const std::filesystem::path& dir, uint64_t split_seed, int threads,
                             const DecodeLimits& limits = {}, const std::vector<std::string>& only_classes = {});

}  // namespace catdog
