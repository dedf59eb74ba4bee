#pragma once
#include <cstdio>
#include <filesystem>
#include <string>

#include "catdog/models/registry.h"

namespace catdog::app {

// The ImageNet weight file of a model with a backbone, found as Keras and
// torchvision find theirs: `weights_flag` (--weights) as given when set;
// else <weights_cache_dir()>/<Keras' file name> (environment.h), downloaded
// there on first use from the registry's URL, or from <weights_mirror()>/<file
// name>: the registry's size and MD5 decide what is accepted either way. A
// cached file that fails them is refused, never used. The download's
// progress bar goes to `progress` (nullptr: none).
std::filesystem::path backbone_weights(const ModelSpec& spec, const std::string& weights_flag, std::FILE* progress);

}  // namespace catdog::app
