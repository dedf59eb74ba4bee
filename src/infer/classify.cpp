#include "catdog/infer/classify.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <future>
#include <numeric>

#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <opencv2/imgproc.hpp>

#include "catdog/base/error.h"
#include "catdog/base/thread_pool.h"
#include "catdog/data/dataset.h"
#include "catdog/data/preprocess.h"
#include "catdog/infer/face.h"
#include "catdog/infer/inference.h"

namespace catdog {

std::string verdict_sentence(const std::vector<double>& probabilities, const std::vector<std::string>& class_names,
                             int top_k) {
  const auto percent = [](double p) {
    return std::clamp(std::lround(100 * (std::isnan(p) ? 0.5 : std::clamp(p, 0.0, 1.0))), 0L, 100L);
  };
  const auto name = [&](size_t label) { return class_name(class_names, static_cast<int64_t>(label)); };
  if (probabilities.size() == 2) {
    const long second = percent(probabilities[1]);
    return "This image seems " + std::to_string(second) + "% " + name(1) + ", and " + std::to_string(100 - second) +
           "% " + name(0) + ".";
  }
  std::vector<size_t> order(probabilities.size());
  std::iota(order.begin(), order.end(), size_t{0});
  const size_t shown = std::min(order.size(), static_cast<size_t>(std::max(1, top_k)));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return probabilities[a] > probabilities[b]; });
  std::string sentence = "This image seems";
  for (size_t i = 0; i < shown; ++i)
    sentence += std::string(i == 0 ? " " : i + 1 == shown ? " and " : ", ") + std::to_string(percent(probabilities[order[i]])) +
                "% " + name(order[i]);
  return sentence + ".";
}

std::string verdict_sentence(double dog_probability) {
  return verdict_sentence({1 - dog_probability, dog_probability}, {kClassNames.begin(), kClassNames.end()});
}

namespace {

namespace fs = std::filesystem;

bool has_image_extension(const fs::path& file) {
  std::string extension = file.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* known : {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".jfif"})
    if (extension == known) return true;
  return false;
}

PredictInput bad_input(const std::string& input, const std::string& why) {
  return {input, fs::path(input).filename(), input + ": " + why};
}

// A copy of `rgb` at most kKeptImageSide px on its longer side: never a view
// that would keep the whole decoded photo alive.
cv::Mat bounded_copy(const cv::Mat& rgb) {
  const double scale = std::min(1.0, static_cast<double>(kKeptImageSide) / std::max(rgb.cols, rgb.rows));
  if (scale == 1.0) return rgb.clone();
  cv::Mat smaller;
  const cv::Size size(std::max(1, static_cast<int>(std::lround(rgb.cols * scale))),
                      std::max(1, static_cast<int>(std::lround(rgb.rows * scale))));
  cv::resize(rgb, smaller, size, 0, 0, cv::INTER_AREA);
  return smaller;
}

// Face finders, one per decoding thread (OpenCV's cascade is not safe to
// share), made once and reused across batches.
class Decoder {
 public:
  Decoder(const PredictOptions& options, const Runtime& runtime, int image_size)
      : options_(options), limits_(runtime.decode_limits), image_size_(image_size) {
    const int threads = runtime.threads;
    if (!options.face) return;
    if (options.face_cascade.empty()) throw Error("face mode needs the path of a face cascade");
    for (int i = 0; i < threads; ++i) finders_.emplace_back(options.face_cascade);
  }

  // Decodes (and crops) `inputs`; results without an error carry their input tensor.
  std::vector<std::pair<PredictionResult, torch::Tensor>> decode(const std::vector<PredictInput>& inputs,
                                                                 int threads) {
    std::vector<std::pair<PredictionResult, torch::Tensor>> decoded(inputs.size());
    parallel_for(inputs.size(), threads, [&](size_t worker, size_t i) {
      decoded[i] = decode_one(inputs[i], options_.face ? &finders_[worker] : nullptr);
    });
    return decoded;
  }

 private:
  std::pair<PredictionResult, torch::Tensor> decode_one(const PredictInput& input, FaceFinder* finder) const {
    PredictionResult result;
    result.input = input;
    result.error = input.error;
    if (!result.error.empty()) return {result, torch::Tensor()};
    try {
      DecodedImage decoded = decode_image(input.file, limits_);
      const cv::Mat& rgb = decoded.rgb;
      result.warning = std::move(decoded.damage);
      result.size = rgb.size();
      FaceSearchFunction search;
      if (finder) search = [finder](const cv::Mat& image) { return finder->largest_face(image); };
      const auto shown = region_to_classify(rgb, search, /*crop_to_face=*/true);
      result.face = shown.face;
      const cv::Mat classified = rgb(shown.region);
      torch::Tensor tensor = to_input_tensor(resize_to_input(classified, image_size_));
      if (options_.keep_images) {
        result.image = bounded_copy(rgb);
        result.crop = bounded_copy(classified);
      }
      return {result, tensor};
    } catch (const Error& e) {  // decode_rgb's messages start with the file name
      result.error = e.what();
    } catch (const std::exception& e) {
      result.error = input.file.string() + ": " + e.what();
    }
    return {result, torch::Tensor()};
  }

  const PredictOptions& options_;
  const DecodeLimits limits_;
  const int image_size_;  // the model's input side
  std::vector<FaceFinder> finders_;
};

}  // namespace

std::vector<PredictInput> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<PredictInput> expanded;
  for (const auto& input : inputs) {
    std::error_code error;
    const auto status = fs::status(input, error);
    if (status.type() == fs::file_type::not_found) {
      expanded.push_back(bad_input(input, "no such file or folder"));
    } else if (error) {  // a link loop, a path through a file, no permission on the way
      expanded.push_back(bad_input(input, error.message()));
    } else if (fs::is_directory(status)) {
      // The folder itself must be readable (below it, unreadable folders are skipped).
      if (fs::directory_iterator(input, error); error) {
        expanded.push_back(bad_input(input, "cannot read the folder (" + error.message() + ")"));
        continue;
      }
      std::vector<fs::path> found;
      for (fs::recursive_directory_iterator it(input, fs::directory_options::skip_permission_denied, error), end;
           !error && it != end; it.increment(error))
        if (it->is_regular_file(error) && has_image_extension(it->path())) found.push_back(it->path());
      if (found.empty()) expanded.push_back(bad_input(input, "folder holds no image files (.jpg, .png, ...)"));
      std::sort(found.begin(), found.end());
      for (const auto& file : found) expanded.push_back({file, file.lexically_relative(input), ""});
    } else if (!fs::is_regular_file(status)) {
      expanded.push_back(bad_input(input, "not a regular file"));
    } else {
      expanded.push_back({input, fs::path(input).filename(), ""});
    }
  }
  return expanded;
}

ClassifiedRegion region_to_classify(const cv::Mat& rgb, const FaceSearchFunction& largest_face, bool crop_to_face) {
  ClassifiedRegion shown{cv::Rect(0, 0, rgb.cols, rgb.rows), std::nullopt};
  if (!largest_face) return shown;
  const auto box = largest_face(rgb);
  shown.face = FaceResult{box.has_value(), box.value_or(cv::Rect())};
  if (box && crop_to_face) shown.region = add_margin(*box, rgb.size());
  return shown;
}

torch::Tensor class_probabilities(InferenceEngine& logits, const torch::Tensor& images, bool tta) {
  torch::NoGradGuard no_grad;
  return torch::exp(class_log_probabilities(std::ref(logits), images.to(logits.device()), tta))
      .to(torch::kCPU, torch::kFloat64)
      .contiguous();
}

std::vector<PredictionResult> predict_images(Classifier& model, const std::vector<PredictInput>& inputs,
                                             const PredictOptions& options, const Runtime& runtime,
                                             const std::function<void(const PredictionResult&)>& on_result) {
  Decoder decoder(options, runtime, model->image_size());
  model->eval();
  InferenceEngine logits(model, GraphOutput::Logits, runtime, frozen_graph_pays_off(model->kind(), inputs.size()));
  const auto batch = static_cast<size_t>(std::max(1, options.batch_size));
  const auto decode_batch = [&](size_t start) {
    const std::vector<PredictInput> chunk(
        inputs.begin() + static_cast<std::ptrdiff_t>(start),
        inputs.begin() + static_cast<std::ptrdiff_t>(std::min(inputs.size(), start + batch)));
    return decoder.decode(chunk, runtime.threads);
  };
  std::vector<PredictionResult> results;
  results.reserve(inputs.size());
  // The next batch is decoded while the model runs on this one.
  std::future<std::vector<std::pair<PredictionResult, torch::Tensor>>> next;
  if (!inputs.empty()) next = std::async(std::launch::async, decode_batch, 0);
  for (size_t start = 0; start < inputs.size(); start += batch) {
    auto decoded = next.get();
    if (start + batch < inputs.size()) next = std::async(std::launch::async, decode_batch, start + batch);

    std::vector<torch::Tensor> tensors;
    for (const auto& item : decoded)
      if (item.second.defined()) tensors.push_back(item.second);
    const torch::Tensor probabilities =
        tensors.empty() ? torch::Tensor() : class_probabilities(logits, torch::stack(tensors), options.tta);
    int64_t row = 0;
    for (auto& [result, tensor] : decoded) {
      if (tensor.defined()) {
        const auto p = probabilities[row];
        result.probabilities.assign(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
        ++row;
      }
      if (on_result) on_result(result);
      result.image.release();
      result.crop.release();
      results.push_back(std::move(result));
    }
  }
  return results;
}

}  // namespace catdog
