// Charts: the training curves and the confusion matrix, as PNG files.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "catdog/infer/metrics.h"
#include "catdog/store/history.h"

namespace catdog {

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

// Confusion matrix as a heat map with counts in the cells, coloured by each
// true class's share; beyond 8 classes the cells shrink (37: 28 px) and
// column labels too long for their cells turn a quarter.
void plot_confusion_matrix(const ConfusionMatrix& matrix, const std::vector<std::string>& class_names,
                           const std::filesystem::path& png);

}  // namespace catdog
