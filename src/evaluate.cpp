#include "catdog/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include <spdlog/spdlog.h>

#include "catdog/dataset.h"
#include "catdog/error.h"
#include "catdog/inference.h"
#include "catdog/text.h"
#include "catdog/plot.h"
#include "catdog/preprocess.h"
#include "catdog/progress.h"
#include "catdog/split.h"

namespace catdog {
namespace {

namespace fs = std::filesystem;

constexpr int kGridRows = 4, kGridCols = 8;

std::string class_name(const EvalReport& report, int64_t label) {
  return label >= 0 && label < static_cast<int64_t>(report.class_names.size())
             ? report.class_names[static_cast<size_t>(label)]
             : std::to_string(label);
}

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// A CSV field, quoted when it holds a separator, a quote or a line break.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace

EvalReport evaluate(Checkpoint& checkpoint, const DatasetIndex& data, const EvalOptions& options,
                    const Runtime& runtime) {
  const Split split = split_dataset(data.samples, checkpoint.meta.split_seed);
  const std::vector<Sample>& samples = split_part(split, options.split);
  if (samples.empty())
    throw Error("the " + options.split + " split of " + data.root.string() +
                " is empty: give a dataset folder with more images");

  EvalReport report;
  report.split = options.split;
  report.tta = options.tta;
  report.class_names = checkpoint.meta.class_names;
  report.data_root = data.root;
  report.samples = samples;
  // NaN until predicted: files that fail to decode keep it.
  report.dog_probability.assign(samples.size(), std::numeric_limits<float>::quiet_NaN());

  LoaderOptions loader_options;
  loader_options.decode_limits = runtime.decode_limits;
  loader_options.batch_size = options.batch_size;
  loader_options.cache = CacheMode::Off;  // every image is read once
  loader_options.workers = runtime.threads;
  ImageBatches images(data.root, samples, loader_options, runtime.device);
  ProgressBar progress("eval " + options.split, images.num_batches(), options.progress);

  double loss_sum = 0;
  const auto start = std::chrono::steady_clock::now();
  checkpoint.model->eval();
  const auto dtype = inference_dtype(runtime.precision, runtime.device);
  const auto model_forward = [&](const torch::Tensor& inputs) {
    return forward_in(dtype, runtime.device, [&] { return checkpoint.model->forward(inputs); });
  };
  run_inference(
      images, [&](const torch::Tensor& inputs) { return class_log_probabilities(model_forward, inputs, options.tta); },
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
          const int64_t predicted = p[r][kDogLabel] > p[r][kCatLabel] ? kDogLabel : kCatLabel;
          report.dog_probability[sample] = static_cast<float>(p[r][kDogLabel]);
          report.confusion.add(truth, predicted);
          if (predicted != truth)
            report.mistakes.push_back({samples[sample].path, truth, predicted, p[r][predicted]});
        }
        progress.advance(indices.size(), "acc " + fixed(report.confusion.accuracy(), 4));
        return true;
      });
  progress.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  report.images = report.confusion.total();
  report.skipped = static_cast<int>(images.failures().size());
  if (report.images == 0)
    throw Error("none of the " + std::to_string(samples.size()) + " images of the " + options.split +
                " split could be decoded: check the files under " + data.root.string());
  report.loss = loss_sum / static_cast<double>(report.images);
  report.images_per_second = static_cast<double>(report.images) / std::max(seconds, 1e-9);
  std::stable_sort(report.mistakes.begin(), report.mistakes.end(),
                   [](const Misclassified& a, const Misclassified& b) { return a.confidence > b.confidence; });
  spdlog::info("evaluated {} images in {:.2f} s ({:.0f} images/s, {}{})", report.images, seconds,
               report.images_per_second, c10::toString(dtype), options.tta ? ", flip TTA" : "");
  return report;
}

std::string mistakes_csv(const EvalReport& report) {
  std::ostringstream csv;
  csv << "file,true,predicted,confidence\n";
  csv.precision(6);
  for (const auto& mistake : report.mistakes)
    csv << csv_field(mistake.file) << ',' << csv_field(class_name(report, mistake.truth)) << ','
        << csv_field(class_name(report, mistake.predicted)) << ',' << mistake.confidence << '\n';
  return csv.str();
}

void write_prediction_grid(const EvalReport& report, const fs::path& png) {
  const cv::Scalar kRight(31, 119, 180), kWrong(214, 39, 40);  // matplotlib's blue and red (RGB)
  std::vector<GridCell> cells;
  for (size_t i = 0; i < report.samples.size() && cells.size() < kGridRows * kGridCols; ++i) {
    const float dog = report.dog_probability[i];
    if (std::isnan(dog)) continue;  // failed to decode
    const Sample& sample = report.samples[i];
    const int64_t predicted = dog > 0.5f ? kDogLabel : kCatLabel;
    const double confidence = predicted == kDogLabel ? dog : 1.0 - dog;
    const std::string title = "real: " + class_name(report, sample.label) + " / pred: " +
                              class_name(report, predicted) + " (" + fixed(100 * confidence, 0) + "%)";
    cells.push_back({resize_to_input(decode_rgb(report.data_root / sample.path)), title,
                     predicted == sample.label ? kRight : kWrong});
  }
  plot_image_grid(cells, kGridRows, kGridCols, png);
}

size_t write_top_losses(const EvalReport& report, size_t count, const fs::path& png) {
  // report.mistakes is sorted most confident first: only the first `count` are decoded.
  std::vector<ScoredImage> scored;
  for (const auto& mistake : report.mistakes) {
    if (scored.size() == count) break;
    std::vector<double> probabilities(report.class_names.size(), 1.0 - mistake.confidence);
    probabilities[static_cast<size_t>(mistake.predicted)] = mistake.confidence;
    scored.push_back({resize_to_input(decode_rgb(report.data_root / mistake.file)),
                      fs::path(mistake.file).filename().string(), mistake.truth, std::move(probabilities)});
  }
  return plot_top_losses(scored, report.class_names, count, png);
}

std::string format_report(const EvalReport& report) {
  std::ostringstream text;
  const auto& matrix = report.confusion;
  int64_t correct = 0;
  for (int i = 0; i < matrix.num_classes(); ++i) correct += matrix.count(i, i);
  text << "checkpoint: " << escape_text(report.checkpoint) << "\n"
       << "split:      " << report.split << " (" << report.images << " images"
       << (report.skipped ? ", " + std::to_string(report.skipped) + " unreadable skipped" : "") << ")\n"
       << (report.tta ? "tta:        horizontal flip (mean of both softmaxes)\n" : "")
       << "loss:       " << fixed(report.loss, 4) << "\n"
       << "accuracy:   " << fixed(matrix.accuracy(), 4) << " (" << correct << "/" << report.images << ")\n\n";

  size_t name_width = 5;
  for (int i = 0; i < matrix.num_classes(); ++i) name_width = std::max(name_width, class_name(report, i).size());
  const auto pad = [](const std::string& s, size_t width) {
    return std::string(width > s.size() ? width - s.size() : 0, ' ') + s;
  };
  text << pad("class", name_width) << pad("precision", 11) << pad("recall", 9) << pad("f1", 9) << pad("support", 9)
       << "\n";
  for (int i = 0; i < matrix.num_classes(); ++i) {
    const ClassMetrics m = matrix.class_metrics(i);
    text << pad(class_name(report, i), name_width) << pad(fixed(m.precision, 4), 11) << pad(fixed(m.recall, 4), 9)
         << pad(fixed(m.f1, 4), 9) << pad(std::to_string(m.support), 9) << "\n";
  }

  text << "\nconfusion matrix (rows: true, columns: predicted)\n" << pad("", name_width);
  for (int p = 0; p < matrix.num_classes(); ++p) text << pad(class_name(report, p), 9);
  text << "\n";
  for (int t = 0; t < matrix.num_classes(); ++t) {
    text << pad(class_name(report, t), name_width);
    for (int p = 0; p < matrix.num_classes(); ++p) text << pad(std::to_string(matrix.count(t, p)), 9);
    text << "\n";
  }
  text << "\nspeed:      " << fixed(report.images_per_second, 0) << " images/s\n";
  return text.str();
}

nlohmann::json report_to_json(const EvalReport& report) {
  const auto& matrix = report.confusion;
  nlohmann::json classes = nlohmann::json::object(), confusion = nlohmann::json::array(),
                 mistakes = nlohmann::json::array();
  for (int t = 0; t < matrix.num_classes(); ++t) {
    const ClassMetrics m = matrix.class_metrics(t);
    classes[class_name(report, t)] = {
        {"precision", m.precision}, {"recall", m.recall}, {"f1", m.f1}, {"support", m.support}};
    nlohmann::json row = nlohmann::json::array();
    for (int p = 0; p < matrix.num_classes(); ++p) row.push_back(matrix.count(t, p));
    confusion.push_back(row);
  }
  for (const auto& mistake : report.mistakes)
    mistakes.push_back({{"file", escape_text(mistake.file)},
                        {"true", class_name(report, mistake.truth)},
                        {"predicted", class_name(report, mistake.predicted)},
                        {"confidence", mistake.confidence}});
  return {{"checkpoint", escape_text(report.checkpoint)},
          {"split", report.split},
          {"tta", report.tta},
          {"images", report.images},
          {"skipped", report.skipped},
          {"loss", report.loss},
          {"accuracy", matrix.accuracy()},
          {"class_names", report.class_names},
          {"classes", classes},
          {"confusion", confusion},
          {"images_per_second", report.images_per_second},
          {"mistakes", mistakes}};
}

}  // namespace catdog
