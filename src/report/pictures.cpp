#include "catdog/report/pictures.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>
#include <vector>

#include "catdog/data/preprocess.h"
#include "catdog/report/image_grid.h"

namespace catdog {

namespace fs = std::filesystem;

namespace {
constexpr int kGridRows = 4, kGridCols = 8;
}  // namespace

void write_sample_grid(const DatasetReport& report, const std::filesystem::path& png) {
  // RGB: cat blue, dog orange; further classes cycle through matplotlib's tab10.
  const cv::Scalar class_colors[] = {{30, 90, 200},  {200, 90, 20},  {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                                     {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  std::vector<GridCell> cells;
  for (const auto& sample : report.split.train) {
    if (cells.size() == 10) break;
    const bool broken = std::any_of(report.undecodable.begin(), report.undecodable.end(),
                                    [&](const SkippedFile& bad) { return bad.path == sample.path; });
    if (broken) continue;
    cells.push_back({decode_rgb(report.index.root / sample.path), class_name(report.index.class_names, sample.label),
                     class_colors[static_cast<size_t>(sample.label) % std::size(class_colors)]});
  }
  plot_image_grid(cells, 2, 5, png);
}


void write_prediction_grid(const EvalReport& report, const fs::path& png) {
  const cv::Scalar kRight(31, 119, 180), kWrong(214, 39, 40);  // matplotlib's blue and red (RGB)
  std::vector<GridCell> cells;
  for (size_t i = 0; i < report.samples.size() && cells.size() < kGridRows * kGridCols; ++i) {
    const int64_t predicted = report.predicted[i];
    if (predicted < 0) continue;  // failed to decode
    const Sample& sample = report.samples[i];
    const double confidence = report.confidence[i];
    const std::string title = "real: " + report.class_name(sample.label) + " / pred: " +
                              report.class_name(predicted) + " (" + std::to_string(std::lround(100 * confidence)) + "%)";
    cells.push_back({resize_to_input(decode_rgb(report.data_root / sample.path), report.image_size), title,
                     predicted == sample.label ? kRight : kWrong});
  }
  // Fewer images than the grid holds: as many rows (and, below one row, columns) as they fill.
  const int cols = std::max(1, std::min(kGridCols, static_cast<int>(cells.size())));
  const int rows = std::max(1, (static_cast<int>(cells.size()) + cols - 1) / cols);
  plot_image_grid(cells, rows, cols, png);
}

size_t write_top_losses(const EvalReport& report, size_t count, const fs::path& png) {
  // report.mistakes is sorted most confident first: only the first `count` are decoded.
  std::vector<ScoredImage> scored;
  for (const auto& mistake : report.mistakes) {
    if (scored.size() == count) break;
    scored.push_back({resize_to_input(decode_rgb(report.data_root / mistake.file), report.image_size),
                      fs::path(mistake.file).filename().string(), mistake.truth, mistake.probabilities});
  }
  return plot_top_losses(scored, report.class_names, count, png);
}

}  // namespace catdog
