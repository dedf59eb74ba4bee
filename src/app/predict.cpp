// `catdog predict`: the library's predictions, printed and drawn.
#include <set>

#include <nlohmann/json.hpp>

#include "catdog/app/commands.h"
#include "catdog/app/environment.h"
#include "catdog/app/output.h"
#include "catdog/app/run_folder.h"
#include "catdog/base/error.h"
#include "catdog/base/text.h"
#include "catdog/data/dataset.h"
#include "catdog/infer/classify.h"
#include "catdog/infer/face.h"
#include "catdog/infer/gradcam.h"
#include "catdog/report/image_grid.h"
#include "catdog/store/checkpoint.h"

namespace catdog::app {

namespace fs = std::filesystem;

namespace {

// Where --annotate (and --explain) writes each input's picture: DIR/<path under the folder
// given>/<name>.jpg. Never an input file, never the same file twice (a
// -2, -3, ... suffix tells such pictures apart).
std::vector<fs::path> annotation_files(const fs::path& dir, const std::vector<PredictInput>& inputs) {
  std::set<fs::path> taken;
  std::error_code error;
  for (const auto& input : inputs) taken.insert(fs::weakly_canonical(input.file, error));
  std::vector<fs::path> files;
  for (const auto& input : inputs) {
    const fs::path folder = dir / input.relative.parent_path();
    const std::string stem = input.relative.stem().string();
    fs::path file = folder / (stem + ".jpg");
    for (int n = 2; taken.count(fs::weakly_canonical(file, error)); ++n)
      file = folder / (stem + "-" + std::to_string(n) + ".jpg");
    taken.insert(fs::weakly_canonical(file, error));
    files.push_back(file);
  }
  return files;
}

// --save-crop as given for one input; with several, crop.png becomes
// crop-<n>-<image name>.png (n counts from 1 in input order).
fs::path crop_file(const fs::path& crop, const PredictInput& input, size_t index, bool several) {
  if (!several) return crop;
  return crop.parent_path() / (crop.stem().string() + "-" + std::to_string(index + 1) + "-" +
                               input.file.stem().string() + crop.extension().string());
}


}  // namespace

int run_predict(const PredictCommand& command, const Runtime& runtime, std::ostream& out, std::ostream& err) {
  if (!command.save_crop.empty() && !command.face)
    throw Error("--save-crop writes the face crop: add --face, or drop --save-crop");
  if (!command.annotate_dir.empty()) require_output_folder(command.annotate_dir, "--annotate");
  if (!command.explain_dir.empty()) require_output_folder(command.explain_dir, "--explain");
  if (!command.save_crop.empty()) require_output_folder(command.save_crop.parent_path(), "--save-crop");
  const fs::path checkpoint_file = resolve_checkpoint(command.checkpoint);
  Checkpoint checkpoint = load_run_checkpoint(checkpoint_file, runtime.device);
  const auto& class_names = checkpoint.meta.class_names;

  const std::vector<PredictInput> inputs = expand_inputs(command.inputs);
  // One file named on the command line gets the bare sentence; anything more says whose it is.
  const bool name_files = !(command.inputs.size() == 1 && inputs.size() == 1 && inputs[0].error.empty() &&
                            inputs[0].file == command.inputs[0]);
  const std::vector<fs::path> annotations =
      command.annotate_dir.empty() ? std::vector<fs::path>() : annotation_files(command.annotate_dir, inputs);

  const std::vector<fs::path> explanations =
      command.explain_dir.empty() ? std::vector<fs::path>() : annotation_files(command.explain_dir, inputs);

  PredictOptions options;
  options.face = command.face;
  if (command.face) options.face_cascade = face_cascade();
  options.keep_images = !command.annotate_dir.empty() || !command.save_crop.empty() || !command.explain_dir.empty();
  options.batch_size = command.batch_size;
  options.tta = command.tta;
  const auto json_line = [&](const PredictionResult& result) {
    nlohmann::json line = prediction_json(result, class_names);
    line["tta"] = command.tta;
    return line.dump();
  };
  bool all_good = true;
  size_t index = 0;
  predict_images(checkpoint.model, inputs, options, runtime, [&](const PredictionResult& result) {
    const size_t i = index++;
    if (!result.error.empty()) {
      all_good = false;
      err << "catdog: " << escape_text(result.error) << "\n";
      if (command.json) out << json_line(result) << "\n";
      out.flush();
      return;
    }
    const std::string sentence = verdict_sentence(result.probabilities, class_names, command.top_k);
    if (!result.warning.empty())
      err << "catdog: warning: " << escape_text(result.input.file.string()) << ": " << damage_sentence(result.warning)
          << "\n";
    if (result.face && !result.face->found)
      err << "catdog: " << escape_text(result.input.file.string()) << ": no face found, classifying the whole image\n";
    if (result.face && result.face->found)
      err << "catdog: " << escape_text(result.input.file.string()) << ": " << describe_face(result.face->box)
          << " classified\n";
    if (command.json)
      out << json_line(result) << "\n";
    else
      out << (name_files ? escape_text(result.input.file.string()) + ": " : "") << sentence << "\n";
    out.flush();
    if (!command.save_crop.empty())
      write_rgb_image(result.crop, crop_file(command.save_crop, result.input, i, inputs.size() > 1));
    if (!annotations.empty()) {
      std::optional<cv::Rect> box;
      if (result.face && result.face->found) {  // in the kept image's pixels
        const double scale = static_cast<double>(result.image.cols) / result.size.width;
        const auto& face = result.face->box;
        box = cv::Rect(cv::Point(static_cast<int>(face.x * scale), static_cast<int>(face.y * scale)),
                       cv::Point(static_cast<int>(face.br().x * scale), static_cast<int>(face.br().y * scale)));
      }
      write_rgb_image(draw_verdict(result.image, sentence, box), annotations[i]);
    }
    if (!explanations.empty()) {  // the heat map over what was classified (the face crop in face mode)
      const cv::Mat& classified = result.crop.empty() ? result.image : result.crop;
      const auto explanation = explain(checkpoint.model, classified);
      write_rgb_image(draw_explanation(classified, explanation.heat, sentence,
                                       class_name(checkpoint.meta.class_names, explanation.explained_label)),
                      explanations[i]);
    }
  });
  return all_good ? kExitOk : kExitFailure;
}

}  // namespace catdog::app
