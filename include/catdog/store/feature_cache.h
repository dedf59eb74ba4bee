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

// What cached features were computed from: the same samples and number
// format (`fingerprint`), model and input size (preprocess.h; a 160 px cache is
// never read for 224).
struct FeatureCacheKey {
  std::string fingerprint;
  ModelKind kind = ModelKind::Scratch;
  int image_size = 0;
};

// The cached features of `file` when it holds them for `key`; nullopt (with a
// warning for a damaged file) otherwise. The zip container is checked before
// LibTorch parses it (zip_check.h).
std::optional<CachedFeatures> read_feature_cache(const std::filesystem::path& file, const FeatureCacheKey& key);
// Writes them all or nothing (atomic_file.h), creating the folder.
void write_feature_cache(const std::filesystem::path& file, const FeatureCacheKey& key, const CachedFeatures& cached);

}  // namespace catdog
