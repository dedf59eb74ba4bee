#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "catdog/metrics.h"

namespace catdog {

struct EvalOptions {
  std::string checkpoint;  // file, run folder or "" (runs/latest)
  std::filesystem::path data_dir;
  std::string split = "test";  // test | validation | train
  std::filesystem::path grid_png;  // also writes confusion.png and misclassified.csv beside it
  int batch_size = 64;
  bool progress = true;
};

struct Misclassified {
  std::string file;
  int64_t truth = 0, predicted = 0;
  double confidence = 0;  // probability given to the wrong class
};

struct EvalReport {
  std::string checkpoint, split;
  int64_t images = 0;
  double loss = 0;
  ConfusionMatrix confusion{2};
  std::vector<std::string> class_names;
  std::vector<Misclassified> mistakes;  // most confident first
  int skipped = 0;                      // files that failed to decode
  double images_per_second = 0;
};

// Batched inference over one split (the checkpoint's split seed), metrics,
// and, with grid_png, the pictures.
EvalReport evaluate(const EvalOptions& options, torch::Device device);

// Human table: loss, accuracy, per-class precision/recall/F1, confusion matrix.
std::string format_report(const EvalReport& report);
nlohmann::json report_to_json(const EvalReport& report);

}  // namespace catdog
