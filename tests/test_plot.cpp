#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "catdog/error.h"
#include "catdog/plot.h"
#include "test_support.h"

namespace catdog {
namespace {

using testing::TempDir;

// Pixels that are not the white background.
int inked_pixels(const cv::Mat& bgr) {
  cv::Mat gray;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  return cv::countNonZero(gray < 250);
}

History three_epochs() {
  return {{1, 0.69, 0.55, 0.66, 0.60, 3.0}, {2, 0.55, 0.72, 0.58, 0.70, 3.1}, {3, 0.41, 0.81, 0.50, 0.77, 3.0}};
}

TEST(Plot, TrainingCurvesAreTwoPanelsOnWhite) {
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

TEST(Plot, TrainingCurvesCopeWithOneEpochAndWithNone) {
  TempDir dir;
  plot_training_curves({three_epochs()[0]}, dir / "one.png");
  plot_training_curves({}, dir / "none.png");
  EXPECT_EQ(cv::imread((dir / "one.png").string()).cols, 1200);
  EXPECT_EQ(cv::imread((dir / "none.png").string()).rows, 500);
}

TEST(Plot, ImageGridHasOneCellPerImageWithItsTitleColour) {
  TempDir dir;
  std::vector<GridCell> cells;
  for (int i = 0; i < 8; ++i) {
    cv::Mat rgb;
    cv::cvtColor(testing::synthetic_pet_bgr(i % 2 == 1, i), rgb, cv::COLOR_BGR2RGB);
    cells.push_back({rgb, "real: dog / pred: cat (97%)", i % 2 ? cv::Scalar(0, 0, 255) : cv::Scalar(255, 0, 0)});
  }
  const auto png = dir / "grid.png";
  plot_image_grid(cells, 2, 5, png);
  const cv::Mat image = cv::imread(png.string());
  ASSERT_FALSE(image.empty());
  EXPECT_EQ(image.cols, 5 * kGridCellWidth);
  EXPECT_EQ(image.rows, 2 * kGridCellHeight);
  // The 9th and 10th cells have no image: their middles stay white.
  const cv::Point last_cell_middle(4 * kGridCellWidth + kGridCellWidth / 2, kGridCellHeight + kGridCellHeight / 2);
  EXPECT_EQ(image.at<cv::Vec3b>(last_cell_middle), cv::Vec3b(255, 255, 255));
  // The first cell shows the (blue) cat picture.
  const auto& first_middle = image.at<cv::Vec3b>(kGridCellHeight / 2 + 20, kGridCellWidth / 2 - 50);
  EXPECT_GT(first_middle[0], 150);
  EXPECT_LT(first_middle[2], 120);
  EXPECT_GT(inked_pixels(image(cv::Rect(0, 0, kGridCellWidth, 30))), 50);  // the title
}

TEST(Plot, ConfusionMatrixIsAHeatMap) {
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

TEST(Plot, WriteRgbImageSwapsChannelsAndReportsFailures) {
  TempDir dir;
  cv::Mat red(10, 20, CV_8UC3, cv::Scalar(255, 0, 0));  // RGB
  write_rgb_image(red, dir / "red.png");
  const cv::Mat back = cv::imread((dir / "red.png").string());
  EXPECT_EQ(back.size(), cv::Size(20, 10));
  EXPECT_EQ(back.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 255));  // BGR
  EXPECT_THROW(write_rgb_image(red, dir / "red.unknown-extension"), Error);
  EXPECT_THROW(write_rgb_image(cv::Mat(), dir / "empty.png"), Error);
  std::filesystem::create_directories(dir / "taken.png");  // a folder where the file should go
  EXPECT_THROW(write_rgb_image(red, dir / "taken.png"), Error);
}

}  // namespace
}  // namespace catdog
