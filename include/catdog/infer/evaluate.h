#pragma once
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "catdog/base/progress.h"
#include "catdog/base/runtime.h"
#include "catdog/data/dataset.h"
#include "catdog/infer/metrics.h"
#include "catdog/store/checkpoint.h"

namespace catdog {

struct EvalOptions {
  std::string split = "test";  // test | validation | train
  int batch_size = 64;
  bool tta = false;  // test-time augmentation: class_log_probabilities (inference.h)
  std::FILE* progress = nullptr;  // where the progress bar goes; nullptr: none
  int progress_columns = ProgressBar::kDefaultColumns;  // the terminal's width
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
  int64_t top5_correct = 0;  // images whose class is among the 5 most probable (all of them up to 5 classes)
  std::vector<Misclassified> mistakes;  // largest loss first (metrics.h's top_losses)
  int skipped = 0;                      // files that failed to decode
  std::vector<std::string> damaged;     // files decoded in part (a JPEG cut short): evaluated, and named
  double images_per_second = 0;
  // Per sample of the split, in split order: the predicted class (-1 when it
  // failed to decode) and its probability; for the pictures.
  std::filesystem::path data_root;
  int image_size = kDefaultImageSize;  // the model's input side: what the pictures show
  std::vector<Sample> samples;
  std::vector<int64_t> predicted;
  std::vector<float> confidence;

  // The name of class `label`, or its number when the report has no name for it.
  std::string class_name(int64_t label) const;
  double top5_accuracy() const;
};

// Batched inference of `checkpoint` over one split of `data` (cut with the
// checkpoint's split seed) and its metrics. Error naming both class lists when
// the checkpoint's classes are not the dataset's.
EvalReport evaluate(Checkpoint& checkpoint, const DatasetIndex& data, const EvalOptions& options,
                    const Runtime& runtime);

}  // namespace catdog
