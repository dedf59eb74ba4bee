#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "catdog/history.h"
#include "catdog/metrics.h"

namespace catdog {

// Pictures drawn with OpenCV (no plotting library on the target): white
// background, axes with ticks, legends, PNG output.

// The tutorial's two panels: accuracy and loss per epoch, train vs validation.
void plot_training_curves(const History& history, const std::filesystem::path& png);

struct GridCell {
  cv::Mat rgb;            // any size; drawn as a square thumbnail
  std::string title;
  cv::Scalar color;       // title colour (RGB)
};
// rows x cols thumbnails with a title above each (wrapped onto two lines at
// " / " or a space when it does not fit). Every cell is kGridCellWidth x
// kGridCellHeight, so the picture is exactly cols x rows cells; cells beyond
// rows x cols are not drawn, missing ones stay white.
inline constexpr int kGridCellWidth = 184;
inline constexpr int kGridCellHeight = 212;
void plot_image_grid(const std::vector<GridCell>& cells, int rows, int cols,
                     const std::filesystem::path& png);

// Confusion matrix as a heat map with counts in the cells.
void plot_confusion_matrix(const ConfusionMatrix& matrix, const std::vector<std::string>& class_names,
                           const std::filesystem::path& png);

// `predict --annotate`: the image with `text` on a dark banner below it and,
// when given, a box drawn around `highlight` (the face in face mode).
cv::Mat draw_verdict(const cv::Mat& rgb, const std::string& text, const std::optional<cv::Rect>& highlight);

// Writes an RGB image as PNG/JPEG (by extension); Error when it cannot.
void write_rgb_image(const cv::Mat& rgb, const std::filesystem::path& file);

}  // namespace catdog
