#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "catdog/base/error.h"
#include "catdog/infer/face.h"
#include "test_support.h"

namespace catdog {
namespace {

TEST(Face, CascadeIsFoundAndLoads) {
  const auto cascade = find_face_cascade();
  EXPECT_TRUE(std::filesystem::is_regular_file(cascade)) << cascade;
  EXPECT_NO_THROW(FaceFinder{cascade});
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

// Strips thinner than the cascade's window once shrunk to the search size
// (1x5000 shrinks to 0 pixels wide) hold no face: none found, no OpenCV error.
TEST(Face, AStripThinnerThanTheWindowHasNoFace) {
  FaceFinder finder(find_face_cascade());
  for (const cv::Size size : {cv::Size(1, 5000), cv::Size(5000, 1), cv::Size(100, 5000), cv::Size(23, 23)}) {
    const cv::Mat rgb(size, CV_8UC3, cv::Scalar(90, 120, 150));
    EXPECT_NO_THROW(EXPECT_FALSE(finder.largest_face(rgb).has_value()) << size) << size;
  }
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

// OpenCV's sample photos from Debian's opencv-doc (scripts/install_deps.sh).
const std::filesystem::path kOpencvSamples = "/usr/share/doc/opencv-doc/examples/data";

cv::Mat sample_photo_rgb(const std::string& name) {
  cv::Mat rgb;
  const cv::Mat bgr = cv::imread((kOpencvSamples / name).string());
  if (!bgr.empty()) cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

double overlap(const cv::Rect& a, const cv::Rect& b) {
  const double shared = (a & b).area();
  return shared / (a.area() + b.area() - shared);
}

#define SKIP_WITHOUT_OPENCV_DOC(photo)                                                                          \
  if ((photo).empty())                                                                                          \
  GTEST_SKIP() << "OpenCV's sample photos are missing (" << kOpencvSamples.string()                            \
               << "): apt-get install opencv-doc, or run scripts/install_deps.sh"

TEST(Face, FindsTheSubjectNotTheBackground) {
  // Face boxes labelled by eye (bench/face_photos.tsv). messi5: a 39 px face
  // before a crowd; basketball1: two people, one facing the camera, where the
  // old default cascade (frontalface_default) picked a patch of the other's shirt.
  const std::pair<const char*, cv::Rect> photos[] = {{"messi5.jpg", {226, 93, 39, 39}},
                                                     {"basketball1.png", {71, 90, 42, 42}}};
  SKIP_WITHOUT_OPENCV_DOC(sample_photo_rgb(photos[0].first));
  FaceFinder finder(find_face_cascade());
  for (const auto& [name, subject] : photos) {
    const auto face = finder.largest_face(sample_photo_rgb(name));
    ASSERT_TRUE(face.has_value()) << name;
    EXPECT_GE(overlap(*face, subject), 0.4) << name << ": " << describe_face(*face);
  }
}

TEST(Face, EveryCascadeOfOpencvDataCanBeNamed) {
  for (const char* name : {"haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt.xml",
                           "haarcascade_frontalface_alt2.xml", "haarcascade_frontalface_alt_tree.xml"})
    EXPECT_EQ(find_face_cascade(name).filename(), name);
  EXPECT_EQ(find_face_cascade().filename(), kDefaultFaceCascade);
  try {
    find_face_cascade("no_such_cascade.xml");
    ADD_FAILURE() << "a missing cascade was found";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("opencv-data"), std::string::npos) << e.what();
  }
}

TEST(Face, SearchSettingsAreHonoured) {
  const cv::Mat rgb = sample_photo_rgb("messi5.jpg");
  SKIP_WITHOUT_OPENCV_DOC(rgb);
  const auto cascade = find_face_cascade("haarcascade_frontalface_default.xml");
  FaceFinder lenient(cascade, {1, 1.0 / 40}), strict(cascade, {8, 1.0 / 40}), large_only(cascade, {1, 1.0 / 4});
  const auto lenient_faces = lenient.faces(rgb);
  EXPECT_GT(lenient_faces.size(), strict.faces(rgb).size());
  for (const auto& face : lenient_faces) EXPECT_EQ(face & cv::Rect(0, 0, rgb.cols, rgb.rows), face);
  // The smallest face size is a share of the shorter side (342 px here).
  for (const auto& face : large_only.faces(rgb)) EXPECT_GE(face.width, 342 / 4 - 1) << describe_face(face);
  EXPECT_LT(large_only.faces(rgb).size(), lenient_faces.size());
}

TEST(Face, DescribeSaysWhere) { EXPECT_EQ(describe_face({120, 40, 90, 91}), "face at 120,40 90x91"); }

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
