#include "catdog/infer/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include <spdlog/spdlog.h>

#include "catdog/base/error.h"
#include "catdog/base/progress.h"
#include "catdog/base/text.h"
#include "catdog/data/dataset.h"
#include "catdog/data/preprocess.h"
#include "catdog/data/split.h"
#include "catdog/infer/engine.h"
#include "catdog/infer/inference.h"

namespace catdog {
namespace {

namespace fs = std::filesystem;


}  // namespace

EvalReport evaluate(Checkpoint& checkpoint, const DatasetIndex& data, const EvalOptions& options,
                    const Runtime& runtime) {
  require_classes(checkpoint.meta.class_names, data);
  const Split split = split_dataset(data, checkpoint.meta.split_seed);
  const std::vector<Sample>& samples = split_part(split, options.split);
  if (samples.empty())
    throw Error("the " + options.split + " split of " + data.root.string() +
                " is empty: give a dataset folder with more images");

  EvalReport report;
  report.split = options.split;
  report.tta = options.tta;
  report.class_names = checkpoint.meta.class_names;
  report.confusion = ConfusionMatrix(static_cast<int>(report.class_names.size()));
  report.data_root = data.root;
  report.samples = samples;
  // -1 until predicted: files that fail to decode keep it.
  report.predicted.assign(samples.size(), -1);
  report.confidence.assign(samples.size(), std::numeric_limits<float>::quiet_NaN());

  report.image_size = checkpoint.model->image_size();
  LoaderOptions loader_options;
  loader_options.image_size = report.image_size;
  loader_options.decode_limits = runtime.decode_limits;
  loader_options.batch_size = options.batch_size;
  loader_options.cache = CacheMode::Off;  // every image is read once
  loader_options.workers = runtime.threads;
  ImageBatches images(data.root, samples, loader_options, runtime.device);
  ProgressBar progress("eval " + options.split, images.num_batches(), options.progress, "img",
                       options.progress_columns);

  double loss_sum = 0;
  const auto start = std::chrono::steady_clock::now();
  checkpoint.model->eval();
  const auto dtype = inference_dtype(runtime.precision, runtime.device);
  InferenceEngine logits(checkpoint.model, GraphOutput::Logits, runtime,
                         frozen_graph_pays_off(checkpoint.model->kind(), samples.size()));
  run_inference(
      images, [&](const torch::Tensor& inputs) { return class_log_probabilities(std::ref(logits), inputs, options.tta); },
      [&](const torch::Tensor& log_probabilities, const torch::Tensor& labels, const std::vector<size_t>& indices) {
        // Cross-entropy: on the logits' log_softmax as Keras and PyTorch; with
        // TTA on the log of the averaged probabilities.
        loss_sum += torch::nn::functional::nll_loss(
                        log_probabilities, labels, torch::nn::functional::NLLLossFuncOptions().reduction(torch::kSum))
                        .item<double>();
        const torch::Tensor probabilities =
            torch::exp(log_probabilities).to(torch::kCPU, torch::kFloat64).contiguous();
        const auto p = probabilities.accessor<double, 2>();
        for (size_t row = 0; row < indices.size(); ++row) {
          const size_t sample = indices[row];
          const int64_t truth = samples[sample].label;
          const auto r = static_cast<int64_t>(row);
          std::vector<double> of_classes(static_cast<size_t>(p.size(1)));
          for (size_t c = 0; c < of_classes.size(); ++c) of_classes[c] = p[r][static_cast<int64_t>(c)];
          // The first of equal probabilities wins, as argmax.
          const int64_t predicted = std::max_element(of_classes.begin(), of_classes.end()) - of_classes.begin();
          const double truth_probability = of_classes[static_cast<size_t>(truth)];
          const auto above_truth =
              std::count_if(of_classes.begin(), of_classes.end(), [&](double q) { return q > truth_probability; });
          report.top5_correct += above_truth < 5;
          report.predicted[sample] = predicted;
          report.confidence[sample] = static_cast<float>(of_classes[static_cast<size_t>(predicted)]);
          report.confusion.add(truth, predicted);
          if (predicted != truth) {
            const double confidence = of_classes[static_cast<size_t>(predicted)];
            report.mistakes.push_back({samples[sample].path, truth, predicted, confidence, std::move(of_classes)});
          }
        }
        progress.advance(indices.size(), fmt::format("acc {:.4f}", report.confusion.accuracy()));
        return true;
      });
  progress.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  report.images = report.confusion.total();
  report.skipped = static_cast<int>(images.failures().size());
  for (const auto& file : images.damaged()) report.damaged.push_back(file.path);
  std::sort(report.damaged.begin(), report.damaged.end());
  if (report.images == 0)
    throw Error("none of the " + std::to_string(samples.size()) + " images of the " + options.split +
                " split could be decoded: check the files under " + data.root.string());
  report.loss = loss_sum / static_cast<double>(report.images);
  report.images_per_second = static_cast<double>(report.images) / std::max(seconds, 1e-9);
  std::vector<std::vector<double>> probabilities;
  std::vector<int64_t> truths;
  for (const auto& mistake : report.mistakes) {
    probabilities.push_back(mistake.probabilities);
    truths.push_back(mistake.truth);
  }
  std::vector<Misclassified> ranked;
  for (size_t i : top_losses(probabilities, truths, report.mistakes.size())) ranked.push_back(report.mistakes[i]);
  report.mistakes = std::move(ranked);
  spdlog::info("evaluated {} images in {:.2f} s ({:.0f} images/s, {}{}{})", report.images, seconds,
               report.images_per_second, dtype_name(dtype), logits.runs_frozen_graph() ? ", frozen graph" : "",
               options.tta ? ", flip TTA" : "");
  return report;
}

std::string EvalReport::class_name(int64_t label) const {
  return catdog::class_name(class_names, label);
}

double EvalReport::top5_accuracy() const {
  return images > 0 ? static_cast<double>(top5_correct) / static_cast<double>(images) : 0;
}

}  // namespace catdog
