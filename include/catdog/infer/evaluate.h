#pragma once
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "catdog/store/checkpoint.h"
#include "catdog/data/dataset.h"
#include "catdog/infer/metrics.h"
#include "catdog/base/runtime.h"

namespace catdog {

struct EvalOptions {
  std::string split = "test";  // test | validation | train
  int batch_size = 64;
  bool tta = false;  // test-time augmentation: class_log_probabilities (inference.h)
  std::FILE* progress = nullptr;  // where the progress bar goes; nullptr: none
};

struct Misclassified {
  std::string file;
  int64_t truth = 0, predicted = 0;
  double confidence = 0;  // probability given to the wrong class
  std::vector<double> probabilities;  // of every class
};

struct EvalReport {
  std::string checkpoint, split;  // checkpoint: as the caller names it
  bool tta = false;
  int64_t images = 0;
  double loss = 0;
  ConfusionMatrix confusion{2};
  std::vector<std::string> class_names;
  std::vector<Misclassified> mistakes;  // largest loss first (metrics.h's top_losses)
  int skipped = 0;                      // files that failed to decode
  double images_per_second = 0;
  // Per sample of the split, in split order: its dog probability (NaN when
  // it failed to decode); for the pictures.
  std::filesystem::path data_root;
  std::vector<Sample> samples;
  std::vector<float> dog_probability;

  // The name of class `label`, or its number when the report has no name for it.
  std::string class_name(int64_t label) const;
};

// Batched inference of `checkpoint` over one split of `data` (cut with the
// checkpoint's split seed) and its metrics.
EvalReport evaluate(Checkpoint& checkpoint, const DatasetIndex& data, const EvalOptions& options,
                    const Runtime& runtime);

}  // namespace catdog
