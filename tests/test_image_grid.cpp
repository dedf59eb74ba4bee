#include <tuple>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "catdog/base/error.h"
#include "catdog/report/image_grid.h"
#include "test_support.h"

namespace catdog {
namespace {

using testing::TempDir;
using testing::inked_pixels;

std::vector<ScoredImage> scored_pets() {
  // name, truth, p(cat), p(dog): two right, three wrong with growing confidence.
  const std::tuple<const char*, int64_t, double> rows[] = {
      {"cat.1.jpg", 0, 0.9}, {"dog.2.jpg", 1, 0.4}, {"cat.3.jpg", 0, 0.02}, {"dog.4.jpg", 1, 0.1}, {"cat.5.jpg", 0, 0.3}};
  std::vector<ScoredImage> images;
  int index = 0;
  for (const auto& [name, truth, cat] : rows) {
    cv::Mat rgb;
    cv::cvtColor(testing::synthetic_pet_bgr(truth == 1, index++), rgb, cv::COLOR_BGR2RGB);
    images.push_back({rgb, name, truth, {cat, 1 - cat}});
  }
  return images;
}

TEST(ImageGrid, ImageGridHasOneCellPerImageWithItsTitleColour) {
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

TEST(ImageGrid, TopLossesPictureHasOneCellPerMistake) {
  TempDir dir;
  auto images = scored_pets();
  images[0].probabilities = {0.05, 0.95};  // a third mistake, the worst but one
  const auto png = dir / "top_losses.png";
  EXPECT_EQ(plot_top_losses(images, {"cat", "dog"}, 9, png), 3u);
  const cv::Mat picture = cv::imread(png.string());
  ASSERT_FALSE(picture.empty());
  EXPECT_EQ(picture.size(), cv::Size(3 * kGridCellWidth, kGridCellHeight));
  // Titles in red (BGR here) above each thumbnail.
  for (int cell = 0; cell < 3; ++cell) {
    const cv::Mat title = picture(cv::Rect(cell * kGridCellWidth, 0, kGridCellWidth, 40));
    cv::Mat red;
    cv::inRange(title, cv::Scalar(0, 0, 150), cv::Scalar(120, 120, 255), red);
    EXPECT_GT(cv::countNonZero(red), 30) << "cell " << cell;
  }
  // Nothing wrong: no picture.
  const auto none = dir / "none.png";
  EXPECT_EQ(plot_top_losses({images[3]}, {"cat", "dog"}, 9, none), 0u);
  EXPECT_FALSE(std::filesystem::exists(none));
}

}  // namespace
}  // namespace catdog
