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

// The tutorial's two panels: accuracy and loss per epoch, train vs validation,
// `width` pixels wide (5:12 high); text and lines grow with the width.
inline constexpr int kCurvesWidth = 1200;
void plot_training_curves(const History& history, const std::filesystem::path& png, int width = kCurvesWidth);

// One tick of a chart axis and where its label goes, in pixels: for an x axis
// `along` the axis from its left end with the label's top at 0; for a y axis
// from its bottom... see label_box. Steps are 1, 2, 2.5 or 5 times a power of
// ten (whole numbers on the epoch axis), as many as fit with a gap between
// neighbouring labels.
struct AxisTick {
  double value;
  std::string label;
  cv::Rect2d label_box;  // x axis: centred on the tick, from its left end; y axis: right-aligned at 0, centred
};
// The curves picture's tick layout, exposed so tests can check that labels
// never collide: the epoch axis for 1..`epochs`, the value axis for low..high.
std::vector<AxisTick> curves_x_ticks(int epochs, int width = kCurvesWidth);
std::vector<AxisTick> curves_y_ticks(double low, double high, int width = kCurvesWidth);

// Width in pixels of `text` in the pictures' font at capital height `size`.
double text_width(const std::string& text, double size, bool bold = false);

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

// One classified image for plot_top_losses.
struct ScoredImage {
  cv::Mat rgb;                        // any size
  std::string name;                   // shown above it (the file name)
  int64_t truth = 0;                  // class index
  std::vector<double> probabilities;  // per class index
};
// The wrong predictions among `images`, most confident first (the largest
// loss, -log p(truth), first): indices into `images`, at most `count`.
std::vector<size_t> top_losses(const std::vector<ScoredImage>& images, size_t count);
// fastai's plot_top_losses: those `count` images as a grid (up to 5 a row),
// each titled with its name and "predicted p / true p". Returns how many were
// drawn; with no wrong prediction it writes nothing and returns 0.
size_t plot_top_losses(const std::vector<ScoredImage>& images, const std::vector<std::string>& class_names,
                       size_t count, const std::filesystem::path& png);

// Confusion matrix as a heat map with counts in the cells.
void plot_confusion_matrix(const ConfusionMatrix& matrix, const std::vector<std::string>& class_names,
                           const std::filesystem::path& png);

// `predict --annotate`: the image with `text` on a dark banner below it and,
// when given, a box drawn around `highlight` (the face in face mode).
cv::Mat draw_verdict(const cv::Mat& rgb, const std::string& text, const std::optional<cv::Rect>& highlight);

// Writes an RGB image as PNG/JPEG (by extension); Error when it cannot.
void write_rgb_image(const cv::Mat& rgb, const std::filesystem::path& file);

}  // namespace catdog
