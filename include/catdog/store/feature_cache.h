// The frozen backbone's features of a split, kept between runs: computed once
// per image, reused by every later run on the same files, model and precision.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "catdog/models/registry.h"

namespace catdog {

struct CachedFeatures {
  torch::Tensor features;  // N x F, CPU
  std::vector<bool> usable;
};

// The cached features of `file` when it holds them for this `fingerprint`
// (what was computed: the samples and the number format) and model; nullopt
// (with a warning for a damaged file) otherwise. The zip container is checked
// before LibTorch parses it (zip_check.h).
std::optional<CachedFeatures> read_feature_cache(const std::filesystem::path& file, const std::string& fingerprint,
                                                 ModelKind kind);
// Writes them all or nothing (atomic_file.h), creating the folder.
void write_feature_cache(const std::filesystem::path& file, const std::string& fingerprint, ModelKind kind,
                         const CachedFeatures& cached);

}  // namespace catdog
