#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "catdog/base/error.h"
#include "catdog/report/charts.h"
#include "catdog/report/painter.h"
#include "test_support.h"

namespace catdog {
namespace {

using testing::TempDir;
using testing::inked_pixels;

History three_epochs() {
  return {{1, 0.69, 0.55, 0.66, 0.60, 3.0}, {2, 0.55, 0.72, 0.58, 0.70, 3.1}, {3, 0.41, 0.81, 0.50, 0.77, 3.0}};
}

TEST(Charts, TrainingCurvesAreTwoPanelsOnWhite) {
  TempDir dir;
  const auto png = dir / "curves.png";
  plot_training_curves(three_epochs(), png);
  const cv::Mat image = cv::imread(png.string());
  ASSERT_FALSE(image.empty());
  EXPECT_EQ(image.cols, 1200);
  EXPECT_EQ(image.rows, 500);
  EXPECT_EQ(image.at<cv::Vec3b>(2, 2), cv::Vec3b(255, 255, 255));
  // Both panels carry lines and text.
  EXPECT_GT(inked_pixels(image(cv::Rect(0, 0, 600, 500))), 5000);
  EXPECT_GT(inked_pixels(image(cv::Rect(600, 0, 600, 500))), 5000);
  // Training is drawn in matplotlib's blue, validation in its orange (BGR here).
  int blue = 0, orange = 0;
  for (int y = 0; y < image.rows; ++y)
    for (int x = 0; x < image.cols; ++x) {
      const auto& p = image.at<cv::Vec3b>(y, x);
      blue += p == cv::Vec3b(180, 119, 31);
      orange += p == cv::Vec3b(14, 127, 255);
    }
  EXPECT_GT(blue, 100);
  EXPECT_GT(orange, 100);
}

// A validation loss that climbs at the end puts its last point in the upper
// right corner, the loss legend's usual place: the legend moves, the point shows.
TEST(Charts, TheLegendNeverHidesTheLastPoint) {
  History history;
  for (int epoch = 1; epoch <= 9; ++epoch)
    history.push_back({epoch, 1.0 - 0.1 * epoch, 0.5, epoch == 9 ? 1.0 : 0.6, 0.5, 1.0});
  TempDir dir;
  plot_training_curves(history, dir / "curves.png");
  const cv::Mat image = cv::imread((dir / "curves.png").string());
  // The loss panel's area (x 685..1175, y 50..430) holds epochs 0.6..9.4 and losses 0.06..1.04 (5% margins).
  const cv::Point last(static_cast<int>(685 + 490 * (9 - 0.6) / 8.8), static_cast<int>(430 - 380 * (1.0 - 0.055) / 0.99));
  int orange = 0;
  for (int dy = -2; dy <= 2; ++dy)
    for (int dx = -2; dx <= 2; ++dx) orange += image.at<cv::Vec3b>(last.y + dy, last.x + dx) == cv::Vec3b(14, 127, 255);
  EXPECT_GT(orange, 5) << "the last validation loss point at " << last << " is hidden";
}

TEST(Charts, TrainingCurvesCopeWithOneEpochAndWithNone) {
  TempDir dir;
  plot_training_curves({three_epochs()[0]}, dir / "one.png");
  plot_training_curves({}, dir / "none.png");
  EXPECT_EQ(cv::imread((dir / "one.png").string()).cols, 1200);
  EXPECT_EQ(cv::imread((dir / "none.png").string()).rows, 500);
}

TEST(Charts, TrainingCurvesScaleWithTheRequestedWidth) {
  TempDir dir;
  plot_training_curves(three_epochs(), dir / "small.png", 600);
  plot_training_curves(three_epochs(), dir / "large.png", 2400);
  const cv::Mat small = cv::imread((dir / "small.png").string()), large = cv::imread((dir / "large.png").string());
  EXPECT_EQ(small.size(), cv::Size(600, 250));
  EXPECT_EQ(large.size(), cv::Size(2400, 1000));
  // Text and lines grow with the picture: about 16 times the ink for 4 times the
  // width (less: antialiased edges are a larger share of thin small strokes).
  const double ratio = static_cast<double>(inked_pixels(large)) / inked_pixels(small);
  EXPECT_GT(ratio, 8);
  EXPECT_LT(ratio, 24);
  EXPECT_EQ(testing::error_of([&] { plot_training_curves(three_epochs(), dir / "tiny.png", 100); }),
            "a training-curves picture needs a width of at least 300 pixels");
}

// Neighbouring label boxes along the axis keep apart.
void expect_apart(const std::vector<AxisTick>& ticks, bool horizontal, const std::string& what) {
  for (size_t i = 1; i < ticks.size(); ++i) {
    const cv::Rect2d &a = ticks[i - 1].label_box, &b = ticks[i].label_box;
    EXPECT_TRUE((a & b).area() == 0 && (horizontal ? a.x + a.width < b.x : a.y + a.height < b.y))
        << what << ": \"" << ticks[i - 1].label << "\" and \"" << ticks[i].label << "\" touch";
  }
}

TEST(Charts, EpochTickLabelsNeverOverlapAndStepSensibly) {
  for (int width : {300, 600, 1200, 2400})
    for (int epochs = 1; epochs <= 500; ++epochs) {
      const auto ticks = curves_x_ticks(epochs, width);
      const std::string what = std::to_string(epochs) + " epochs at width " + std::to_string(width);
      ASSERT_FALSE(ticks.empty()) << what;
      expect_apart(ticks, true, what);
      EXPECT_LE(ticks.size(), 10u) << what;
      if (epochs >= 2) {
        EXPECT_GE(ticks.size(), 2u) << what;
      }
      // Whole epochs, one step of 1, 2, 2.5 or 5 times a power of ten (25, not 2.5 -> 3).
      const double step = ticks.size() > 1 ? ticks[1].value - ticks[0].value : 1;
      double unit = step;
      while (unit >= 10) unit /= 10;
      EXPECT_TRUE(unit == 1 || unit == 2 || unit == 5 || (unit == 2.5 && step >= 25)) << what << ": step " << step;
      for (const auto& tick : ticks) {
        EXPECT_EQ(tick.value, std::round(tick.value)) << what;
        EXPECT_EQ(tick.label, std::to_string(static_cast<long>(tick.value))) << what;
        EXPECT_GE(tick.value, 0) << what;
        EXPECT_LE(tick.value, epochs * 1.05 + 1) << what;
      }
      if (ticks.size() > 2) {
        EXPECT_EQ(ticks[2].value - ticks[1].value, step) << what;
      }
    }
}

TEST(Charts, ValueTickLabelsNeverOverlapAndAreDistinct) {
  const std::pair<double, double> ranges[] = {{0.5, 0.52}, {0.0, 1.0}, {0.95, 0.999}, {0.01, 7.5}, {0.3, 0.3}};
  for (int width : {300, 1200, 2400})
    for (const auto& [low, high] : ranges) {
      const auto ticks = curves_y_ticks(low, high, width);
      const std::string what = std::to_string(low) + ".." + std::to_string(high) + " at " + std::to_string(width);
      ASSERT_GE(ticks.size(), 2u) << what;
      // Values grow upwards: the pixel frame's y is taken from the bottom.
      expect_apart(ticks, false, what);
      for (size_t i = 1; i < ticks.size(); ++i) EXPECT_NE(ticks[i].label, ticks[i - 1].label) << what;
    }
}

TEST(Charts, TickFontGrowsWithThePicture) {
  const auto normal = curves_x_ticks(20, 1200), doubled = curves_x_ticks(20, 2400);
  ASSERT_EQ(normal.size(), doubled.size());
  for (size_t i = 0; i < normal.size(); ++i) {
    EXPECT_DOUBLE_EQ(doubled[i].label_box.height, 2 * normal[i].label_box.height);
    EXPECT_NEAR(doubled[i].label_box.width / normal[i].label_box.width, 2.0, 0.25) << normal[i].label;
  }
}

TEST(Charts, ConfusionMatrixIsAHeatMap) {
  ConfusionMatrix matrix(2);
  for (int i = 0; i < 40; ++i) matrix.add(0, 0);
  for (int i = 0; i < 3; ++i) matrix.add(0, 1);
  for (int i = 0; i < 35; ++i) matrix.add(1, 1);
  TempDir dir;
  const auto png = dir / "sub" / "confusion.png";  // missing folders are made
  plot_confusion_matrix(matrix, {"cat", "dog"}, png);
  const cv::Mat image = cv::imread(png.string());
  ASSERT_FALSE(image.empty());
  EXPECT_EQ(image.cols, 120 + 2 * 130 + 120);
  EXPECT_EQ(image.rows, 60 + 2 * 130 + 80);
  // The cat/cat cell (largest count) is dark blue, cat/dog (3) nearly white.
  const auto& full = image.at<cv::Vec3b>(60 + 20, 120 + 20);
  const auto& sparse = image.at<cv::Vec3b>(60 + 20, 120 + 130 + 20);
  EXPECT_LT(full[2], 40);
  EXPECT_GT(sparse[2], 200);
}

// 37 classes (the Oxford pets' count) with long names: smaller cells, names
// turned a quarter below the matrix, colours by each true class's share.
TEST(Charts, ConfusionMatrixOf37ClassesStaysReadable) {
  constexpr int n = 37;
  ConfusionMatrix matrix(n);
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    names.push_back("american_pit_bull_terrier_" + std::to_string(i));
    for (int k = 0; k < 5 * (i + 1); ++k) matrix.add(i, i);  // rows of 5 to 185 images
    matrix.add(i, (i + 1) % n);
  }
  TempDir dir;
  plot_confusion_matrix(matrix, names, dir / "confusion.png");
  const cv::Mat image = cv::imread((dir / "confusion.png").string());
  ASSERT_FALSE(image.empty());
  const double label_width = text_width(names.back(), 12);
  const double cell = 1040.0 / n;  // 28 px
  EXPECT_LT(image.cols, 2000);
  EXPECT_NEAR(image.rows, 60 + 1040 + label_width + 60, 1.0);
  // The smallest class's right answers (5 of 6) are as dark as the largest's (185 of 186 nearly):
  // both well past half the scale.
  const int left = static_cast<int>(std::max(120.0, label_width + 60));
  const auto diagonal = [&](int i) {  // a corner of the cell, clear of its count
    return image.at<cv::Vec3b>(static_cast<int>(60 + i * cell + 3), static_cast<int>(left + i * cell + 3));
  };
  EXPECT_LT(diagonal(0)[2], 80);
  EXPECT_LT(diagonal(n - 1)[2], 80);
  // Below the matrix, the turned labels: ink in a column under the first cell, far below the cells.
  int inked = 0;
  const int x = static_cast<int>(left + cell / 2), below = static_cast<int>(60 + 1040);
  for (int y = below + 20; y < below + static_cast<int>(label_width); ++y)
    inked += image.at<cv::Vec3b>(y, x)[0] < 128;
  EXPECT_GT(inked, 20) << "the first column's name runs down, not across";
}

}  // namespace
}  // namespace catdog
