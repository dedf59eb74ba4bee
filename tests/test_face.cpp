#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "catdog/error.h"
#include "catdog/face.h"
#include "test_support.h"

namespace catdog {
namespace {

TEST(Face, CascadeIsFoundAndLoads) {
  const auto cascade = find_face_cascade();
  EXPECT_TRUE(std::filesystem::is_regular_file(cascade)) << cascade;
  EXPECT_NO_THROW(FaceFinder{cascade});
}

TEST(Face, EnvironmentVariableWinsAndIsChecked) {
  testing::TempDir dir;
  const auto bogus = (dir / "missing.xml").string();
  setenv("CATDOG_FACE_CASCADE", bogus.c_str(), 1);
  try {
    find_face_cascade();
    ADD_FAILURE() << "a missing CATDOG_FACE_CASCADE file was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(bogus), std::string::npos) << e.what();
  }
  unsetenv("CATDOG_FACE_CASCADE");
}

TEST(Face, AnUnreadableCascadeIsAnError) {
  testing::TempDir dir;
  std::ofstream(dir / "broken.xml") << "not a cascade";
  EXPECT_THROW(FaceFinder{dir / "broken.xml"}, Error);
}

TEST(Face, NoFaceInAGeneratedPet) {
  FaceFinder finder(find_face_cascade());
  cv::Mat rgb;
  cv::cvtColor(testing::synthetic_pet_bgr(true, 3, 320, 240), rgb, cv::COLOR_BGR2RGB);
  EXPECT_FALSE(finder.largest_face(rgb).has_value());
  EXPECT_FALSE(finder.largest_face(cv::Mat()).has_value());
}

TEST(Face, FindsGraceHoppersFace) {
  const auto shared = testing::shared_dir();
  const auto photo = shared / "weights/testimgs/grace_hopper.png";
  if (shared.empty() || !std::filesystem::exists(photo)) GTEST_SKIP() << "no " << photo << " on this machine";
  cv::Mat rgb;  // 517 x 606 portrait, face in the upper middle
  cv::cvtColor(cv::imread(photo.string()), rgb, cv::COLOR_BGR2RGB);
  FaceFinder finder(find_face_cascade());
  const auto face = finder.largest_face(rgb);
  ASSERT_TRUE(face.has_value());
  const cv::Point center = (face->tl() + face->br()) / 2;
  EXPECT_GT(center.x, rgb.cols / 4);
  EXPECT_LT(center.x, rgb.cols * 3 / 4);
  EXPECT_LT(center.y, rgb.rows * 2 / 3);
  EXPECT_GT(face->width, rgb.cols / 6);  // the subject, not a speck
  EXPECT_EQ(*face & cv::Rect(0, 0, rgb.cols, rgb.rows), *face);
}

TEST(Face, AddMarginGrowsAndClipsToTheImage) {
  const cv::Size image(200, 100);
  EXPECT_EQ(add_margin({50, 30, 20, 10}, image, 0.5), cv::Rect(40, 25, 40, 20));
  EXPECT_EQ(add_margin({50, 30, 20, 10}, image, 0.0), cv::Rect(50, 30, 20, 10));
  // Near the top-left corner: clipped at 0.
  EXPECT_EQ(add_margin({5, 5, 50, 50}, image, 0.4), cv::Rect(0, 0, 75, 75));
  // Near the bottom-right corner: clipped at the image size.
  EXPECT_EQ(add_margin({170, 80, 20, 20}, image, 0.4), cv::Rect(162, 72, 36, 28));
  // Default margin 0.4.
  EXPECT_EQ(add_margin({80, 40, 10, 10}, image), cv::Rect(76, 36, 18, 18));
}

}  // namespace
}  // namespace catdog
