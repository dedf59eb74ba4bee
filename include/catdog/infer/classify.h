#pragma once
#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <torch/types.h>

#include "catdog/base/runtime.h"
#include "catdog/infer/engine.h"
#include "catdog/infer/face.h"
#include "catdog/models/classifier.h"

namespace catdog {

// The verdict in one sentence, in whole percentages. Two classes, the second
// first (the tutorial's cat/dog sentence word for word): "This image seems N%
// dog, and M% cat." with N = round(100 p[1]), M = 100 - N. More classes: the
// `top_k` most probable, most first, "This image seems 81% daisy, 12% tulip
// and 4% rose." (each rounded on its own).
std::string verdict_sentence(const std::vector<double>& probabilities, const std::vector<std::string>& class_names,
                             int top_k = 3);
// The cat/dog sentence of a dog probability.
std::string verdict_sentence(double dog_probability);

// One file to predict and where it came from.
struct PredictInput {
  std::filesystem::path file;
  // The path under the folder that was given (the file name for a file given
  // directly): where an output for this input goes, relative to an output folder.
  std::filesystem::path relative;
  std::string error;  // non-empty: this input cannot be predicted, and why
};

// Files named as inputs stay as given (a wrong extension is for the decoder
// to judge); folders are walked for image files (by extension), sorted.
// A missing input, a non-regular file (a FIFO would block forever) or a
// folder without images becomes an input with an error.
std::vector<PredictInput> expand_inputs(const std::vector<std::string>& inputs);

// The longer side of the images a result keeps (keep_images): what an
// annotated picture or a heat map needs, whatever the photo's size; a batch of
// 7000x7000 photos would otherwise hold gigabytes until its callbacks ran.
inline constexpr int kKeptImageSide = 1024;

struct PredictOptions {
  bool face = false;         // classify the largest human face
  std::filesystem::path face_cascade;  // face mode: OpenCV's cascade file (face.h)
  bool keep_images = false;  // hand each result's image (and face crop) to the callback, at most kKeptImageSide
  bool tta = false;          // test-time augmentation: class_log_probabilities (inference.h)
  int batch_size = 32;
};

struct FaceResult {
  bool found = false;
  cv::Rect box;  // in the decoded image; the crop is this plus a margin
};

struct PredictionResult {
  PredictInput input;
  std::string error;  // non-empty: not predicted (input.error, or a decode failure naming the file)
  // Non-empty: the image was damaged and decoded in part (a JPEG cut short),
  // in the decoder's words; the probabilities are for what decoded.
  std::string warning;
  std::vector<double> probabilities;  // one per class, the model's order
  std::optional<FaceResult> face;     // face mode only; the box in the decoded image's pixels
  cv::Size size;                      // the decoded image's
  // RGB, with keep_images only: copies at most kKeptImageSide px on their
  // longer side (`image` is scaled by image.cols / size.width); released after the callback.
  cv::Mat image, crop;
};

// What the model is shown of a decoded photo, the one rule predict and serve
// share: with a `largest_face` search (a FaceFinder's), the face is searched
// and, when `crop_to_face`, the model sees it with its margin; otherwise, or
// without a face, the whole photo.
using FaceSearchFunction = std::function<std::optional<cv::Rect>(const cv::Mat& rgb)>;
struct ClassifiedRegion {
  cv::Rect region;                 // in the photo
  std::optional<FaceResult> face;  // searched: whether one was found, and where
};
ClassifiedRegion region_to_classify(const cv::Mat& rgb, const FaceSearchFunction& largest_face, bool crop_to_face);

// Class probabilities (N x classes, float64, CPU) of preprocessed images
// (N x 3 x S x S, preprocess.h) by an engine of the model's logits (in the
// run's precision), with test-time augmentation when asked: the forward pass
// predict and serve both report.
torch::Tensor class_probabilities(InferenceEngine& logits, const torch::Tensor& images, bool tta);

// Predicts every input with `model` in input order, in batches, decoding the
// next batch on runtime.threads threads while the model runs (an
// InferenceEngine: the frozen graph where frozen_graph_pays_off). Each result,
// failed ones included, goes to `on_result` as soon as it is ready, then
// into the returned list (without its images).
std::vector<PredictionResult> predict_images(Classifier& model, const std::vector<PredictInput>& inputs,
                                             const PredictOptions& options, const Runtime& runtime,
                                             const std::function<void(const PredictionResult&)>& on_result = {});

}  // namespace catdog
