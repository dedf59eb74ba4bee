#pragma once
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <torch/types.h>

namespace catdog {

// "This image seems N% dog, and M% cat." with whole percentages that add up
// to 100 (N = round(100 p_dog), M = 100 - N).
std::string verdict_sentence(double dog_probability);

struct PredictOptions {
  std::string checkpoint;               // file, run folder or "" (runs/latest)
  std::vector<std::string> inputs;      // files and folders (walked for images)
  bool json = false;                    // one JSON object per line
  bool face = false;                    // classify the largest human face
  std::filesystem::path save_crop;      // face mode: write the classified crop
  std::filesystem::path annotate_dir;   // write each image with its verdict drawn on
  int batch_size = 32;
};

struct FaceResult {
  bool found = false;
  cv::Rect box;  // in the decoded image; the crop is this plus a margin
};

struct Prediction {
  std::string file;
  double cat = 0, dog = 0;
  std::optional<FaceResult> face;  // face mode only
};

// Predicts every input, printing results on `out` as they are ready. Bad
// inputs get one line on stderr each and do not stop the others. Returns the
// process exit code: 0 when every input was predicted, 1 otherwise.
int run_predict(const PredictOptions& options, torch::Device device, std::ostream& out);

}  // namespace catdog
