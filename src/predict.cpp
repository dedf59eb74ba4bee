#include "catdog/predict.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "catdog/checkpoint.h"
#include "catdog/dataset.h"
#include "catdog/error.h"
#include "catdog/face.h"
#include "catdog/plot.h"
#include "catdog/preprocess.h"
#include "catdog/runtime.h"

namespace catdog {

std::string verdict_sentence(double dog_probability) {
  const double clamped = std::isnan(dog_probability) ? 0.5 : std::clamp(dog_probability, 0.0, 1.0);
  const long dog = std::clamp(std::lround(100 * clamped), 0L, 100L);
  return "This image seems " + std::to_string(dog) + "% dog, and " + std::to_string(100 - dog) + "% cat.";
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

// One line on stderr for an input that cannot be predicted.
void report_bad_input(const std::string& input, const std::string& why) {
  std::cerr << "catdog: " << input << ": " << why << "\n";
}
void report_bad_input(const std::string& message_naming_the_file) {
  std::cerr << "catdog: " << message_naming_the_file << "\n";
}

// Files named on the command line stay as given (a wrong extension is for the
// decoder to judge); folders are walked for image files, sorted.
std::vector<fs::path> expand_inputs(const std::vector<std::string>& inputs, bool& all_good) {
  std::vector<fs::path> files;
  for (const auto& input : inputs) {
    std::error_code error;
    const auto status = fs::status(input, error);
    if (!fs::exists(status)) {
      report_bad_input(input, "no such file or folder");
      all_good = false;
    } else if (fs::is_directory(status)) {
      std::vector<fs::path> found;
      for (fs::recursive_directory_iterator it(input, fs::directory_options::skip_permission_denied, error), end;
           !error && it != end; it.increment(error))
        if (it->is_regular_file() && has_image_extension(it->path())) found.push_back(it->path());
      if (found.empty()) {
        report_bad_input(input, "folder holds no image files (.jpg, .png, ...)");
        all_good = false;
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.emplace_back(input);
    }
  }
  return files;
}

// One input after decoding and (in face mode) cropping, ready for the model.
struct PreparedImage {
  fs::path file;
  torch::Tensor input;           // 3 x 160 x 160; undefined when the file failed
  std::string error;             // why it failed, naming the file
  std::optional<FaceResult> face;
  cv::Mat decoded;               // kept only for --annotate
};

class Preparer {
 public:
  Preparer(const PredictOptions& options, bool several_inputs) : options_(options), several_inputs_(several_inputs) {
    if (options.face) cascade_ = find_face_cascade();
  }

  // Prepares `files` on up to all cores; face finders (one per thread: OpenCV's
  // cascade is not safe to share) are made once and reused across chunks.
  std::vector<PreparedImage> prepare(const std::vector<fs::path>& files, size_t first_index) {
    std::vector<PreparedImage> prepared(files.size());
    const size_t threads = std::min(files.size(), static_cast<size_t>(std::max(1, available_cores())));
    while (options_.face && finders_.size() < threads) finders_.emplace_back(cascade_);
    std::atomic<size_t> next{0};
    const auto work = [&](size_t thread) {
      for (size_t i = next++; i < files.size(); i = next++)
        prepared[i] = prepare_one(files[i], first_index + i, options_.face ? &finders_[thread] : nullptr);
    };
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(work, t);
    work(0);
    for (auto& thread : pool) thread.join();
    return prepared;
  }

 private:
  PreparedImage prepare_one(const fs::path& file, size_t index, FaceFinder* finder) const {
    PreparedImage image;
    image.file = file;
    try {
      cv::Mat rgb = decode_rgb(file);
      cv::Mat classified = rgb;
      if (finder) {
        FaceResult face;
        if (const auto box = finder->largest_face(rgb)) {
          face = {true, *box};
          classified = rgb(add_margin(*box, rgb.size()));
        }
        image.face = face;
        if (!options_.save_crop.empty()) write_rgb_image(classified, crop_file(file, index));
      }
      image.input = to_input_tensor(resize_to_input(classified));
      if (!options_.annotate_dir.empty()) image.decoded = rgb;
    } catch (const Error& e) {  // decode_rgb's messages start with the file name
      image.error = e.what();
    } catch (const std::exception& e) {
      image.error = file.string() + ": " + e.what();
    }
    return image;
  }

  // --save-crop as given for one input; with several, crop.png becomes
  // crop-<n>-<image name>.png (n counts from 1 in input order).
  fs::path crop_file(const fs::path& image, size_t index) const {
    if (!several_inputs_) return options_.save_crop;
    const fs::path& crop = options_.save_crop;
    return crop.parent_path() / (crop.stem().string() + "-" + std::to_string(index + 1) + "-" +
                                 image.stem().string() + crop.extension().string());
  }

  const PredictOptions& options_;
  bool several_inputs_;
  fs::path cascade_;
  std::vector<FaceFinder> finders_;
};

nlohmann::json prediction_json(const Prediction& prediction, const std::string& label) {
  nlohmann::json line = {{"file", prediction.file}, {"cat", prediction.cat}, {"dog", prediction.dog}, {"label", label}};
  if (prediction.face) {
    line["face"] = {{"found", prediction.face->found}};
    if (prediction.face->found) {
      const auto& box = prediction.face->box;
      line["face"]["box"] = {box.x, box.y, box.width, box.height};
    }
  }
  return line;
}

}  // namespace

int run_predict(const PredictOptions& options, torch::Device device, std::ostream& out) {
  if (!options.save_crop.empty() && !options.face)
    throw Error("--save-crop writes the face crop: add --face, or drop --save-crop");
  if (options.batch_size < 1) throw Error("--batch-size must be at least 1");
  const fs::path checkpoint_file = resolve_checkpoint(options.checkpoint);
  Checkpoint checkpoint = load_checkpoint(checkpoint_file, device);
  const auto& class_names = checkpoint.meta.class_names;
  spdlog::debug("predicting with {}", checkpoint_file.string());

  bool all_good = true;
  const std::vector<fs::path> files = expand_inputs(options.inputs, all_good);
  // One file named on the command line gets the bare sentence; anything more says whose it is.
  const bool name_files = !(options.inputs.size() == 1 && files.size() == 1 && files[0] == options.inputs[0]);
  if (!options.annotate_dir.empty()) fs::create_directories(options.annotate_dir);

  Preparer preparer(options, files.size() > 1);
  torch::NoGradGuard no_grad;
  const auto batch = static_cast<size_t>(options.batch_size);
  for (size_t start = 0; start < files.size(); start += batch) {
    const std::vector<fs::path> chunk(files.begin() + static_cast<std::ptrdiff_t>(start),
                                      files.begin() + static_cast<std::ptrdiff_t>(std::min(files.size(), start + batch)));
    std::vector<PreparedImage> prepared = preparer.prepare(chunk, start);

    std::vector<torch::Tensor> inputs;
    for (const auto& image : prepared)
      if (image.input.defined()) inputs.push_back(image.input);
    torch::Tensor probabilities;
    if (!inputs.empty())
      probabilities = torch::softmax(checkpoint.model->forward(torch::stack(inputs).to(device)), 1)
                          .to(torch::kCPU, torch::kFloat64);

    int64_t row = 0;
    for (const auto& image : prepared) {
      if (!image.input.defined()) {
        report_bad_input(image.error);
        all_good = false;
        continue;
      }
      Prediction prediction{image.file.string(), probabilities[row][kCatLabel].item<double>(),
                            probabilities[row][kDogLabel].item<double>(), image.face};
      ++row;
      const std::string sentence = verdict_sentence(prediction.dog);
      if (prediction.face && !prediction.face->found)
        std::cerr << "catdog: " << prediction.file << ": no face found, classifying the whole image\n";
      if (options.json) {
        const size_t label = prediction.dog > prediction.cat ? kDogLabel : kCatLabel;
        out << prediction_json(prediction, label < class_names.size() ? class_names[label] : kClassNames[label])
                   .dump()
            << "\n";
      } else {
        out << (name_files ? prediction.file + ": " : "") << sentence << "\n";
      }
      out.flush();
      if (!options.annotate_dir.empty()) {
        std::optional<cv::Rect> box;
        if (prediction.face && prediction.face->found) box = prediction.face->box;
        write_rgb_image(draw_verdict(image.decoded, sentence, box),
                        options.annotate_dir / (image.file.stem().string() + ".jpg"));
      }
    }
  }
  return all_good ? 0 : 1;
}

}  // namespace catdog
