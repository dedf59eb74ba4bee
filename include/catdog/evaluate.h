#pragma once
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "catdog/checkpoint.h"
#include "catdog/dataset.h"
#include "catdog/metrics.h"
#include "catdog/runtime.h"

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
};

struct EvalReport {
  std::string checkpoint, split;  // checkpoint: as the caller names it
  bool tta = false;
  int64_t images = 0;
  double loss = 0;
  ConfusionMatrix confusion{2};
  std::vector<std::string> class_names;
  std::vector<Misclassified> mistakes;  // most confident first
  int skipped = 0;                      // files that failed to decode
  double images_per_second = 0;
  // Per sample of the split, in split order: its dog probability (NaN when
  // it failed to decode); for the pictures.
  std::filesystem::path data_root;
  std::vector<Sample> samples;
  std::vector<float> dog_probability;
};

// Batched inference of `checkpoint` over one split of `data` (cut with the
// checkpoint's split seed) and its metrics.
EvalReport evaluate(Checkpoint& checkpoint, const DatasetIndex& data, const EvalOptions& options,
                    const Runtime& runtime);

// Human table: loss, accuracy, per-class precision/recall/F1, confusion matrix.
std::string format_report(const EvalReport& report);
nlohmann::json report_to_json(const EvalReport& report);

// The pictures and files of an evaluation, written where the caller says.
// The first 32 images of the split with what the model said (blue right, red wrong).
void write_prediction_grid(const EvalReport& report, const std::filesystem::path& png);
// fastai's top losses: the `count` most confident wrong predictions with
// their file names and probabilities. Returns how many; none: no file.
size_t write_top_losses(const EvalReport& report, size_t count, const std::filesystem::path& png);
// Every mistake, most confident first: file,true,predicted,confidence.
std::string mistakes_csv(const EvalReport& report);

}  // namespace catdog
