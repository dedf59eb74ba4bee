#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "catdog/base/error.h"
#include "catdog/data/augment.h"
#include "catdog/data/preprocess.h"

namespace catdog {
namespace {

const int kSide = augment_source_size(kDefaultImageSize);

Augmentation identity() {
  Augmentation ranges;
  ranges.min_area = ranges.max_area = 1;
  ranges.min_aspect = ranges.max_aspect = 1;
  ranges.max_rotation_degrees = 0;
  ranges.flip_probability = 0;
  ranges.brightness = ranges.contrast = ranges.saturation = 0;
  return ranges;
}

// A smooth, asymmetric RGB source: every warp reads interpolated values, so
// a wrong mapping shows, and fixed-point rounding stays within a level.
cv::Mat smooth_source(unsigned seed = 3) {
  cv::Mat noise(kSide, kSide, CV_8UC3), source;
  cv::theRNG().state = seed;
  cv::randu(noise, cv::Scalar::all(0), cv::Scalar::all(256));
  cv::GaussianBlur(noise, source, cv::Size(0, 0), 6);
  cv::normalize(source, source, 0, 255, cv::NORM_MINMAX);
  cv::rectangle(source, cv::Rect(20, 30, 50, 40), cv::Scalar(250, 20, 20), cv::FILLED);  // left: red
  cv::GaussianBlur(source, source, cv::Size(0, 0), 2);
  return source;
}

double max_difference(const cv::Mat& a, const cv::Mat& b) { return cv::norm(a, b, cv::NORM_INF); }

TEST(Augment, IdentityDrawMapsPixelsAsResizeDoes) {
  const AugmentDraw draw = draw_augmentation(identity(), kSide, 5, 2, 17);
  EXPECT_DOUBLE_EQ(draw.crop_width, kSide);
  EXPECT_DOUBLE_EQ(draw.crop_height, kSide);
  EXPECT_DOUBLE_EQ(draw.centre_x, kSide / 2.0);
  EXPECT_DOUBLE_EQ(draw.centre_y, kSide / 2.0);
  EXPECT_EQ(draw.rotation_degrees, 0);
  EXPECT_FALSE(draw.flip);
  EXPECT_EQ(draw.brightness, 1);
  EXPECT_EQ(draw.contrast, 1);
  EXPECT_EQ(draw.saturation, 1);

  const cv::Mat source = smooth_source();
  const cv::Mat warped = warp_to_input(source, draw, kDefaultImageSize),
                resized = resize_square(source, kDefaultImageSize);
  ASSERT_EQ(warped.size(), cv::Size(kDefaultImageSize, kDefaultImageSize));
  ASSERT_EQ(warped.type(), CV_8UC3);
  // warpAffine rounds source positions to 1/32 pixel, resize does not.
  EXPECT_LE(max_difference(warped, resized), 1);
  // Colour jitter with factors of 1 keeps the values.
  cv::Mat expected;
  resized.convertTo(expected, CV_32F);
  EXPECT_LE(max_difference(augment_image(source, draw, kDefaultImageSize), expected), 1 + 1e-3);
}

// Any input size: the warp's output has that side and maps pixels as resize does.
TEST(Augment, TheWarpGivesTheInputSizeAsked) {
  const cv::Mat source = smooth_source();
  const AugmentDraw draw = draw_augmentation(identity(), kSide, 5, 2, 17);
  for (const int side : {96, 224}) {
    const cv::Mat warped = warp_to_input(source, draw, side);
    ASSERT_EQ(warped.size(), cv::Size(side, side));
    EXPECT_LE(max_difference(warped, resize_square(source, side)), 1) << side;
    EXPECT_EQ(augment_image(source, draw, side).size(), cv::Size(side, side));
  }
  EXPECT_EQ(augment_source_size(kDefaultImageSize), 192) << "the recipe's 192 px sources for 160 px inputs";
}

TEST(Augment, FlipMirrorsAndCropsScaleAndMove) {
  const cv::Mat source = smooth_source();
  AugmentDraw draw = draw_augmentation(identity(), kSide, 1, 0, 0);
  const cv::Mat plain = warp_to_input(source, draw, kDefaultImageSize);
  draw.flip = true;
  cv::Mat mirrored;
  cv::flip(plain, mirrored, 1);
  EXPECT_LE(max_difference(warp_to_input(source, draw, kDefaultImageSize), mirrored), 1);
  EXPECT_GT(max_difference(plain, mirrored), 50) << "the source is not symmetric: the check above means something";

  // The top-left quarter, centred at (48, 48), is the quarter resized (but
  // for the last row and column, where resize repeats the quarter's edge and
  // the warp reads on into the source).
  draw.flip = false;
  draw.crop_width = draw.crop_height = kSide / 2.0;
  draw.centre_x = draw.centre_y = kSide / 4.0;
  const cv::Rect inner(0, 0, kDefaultImageSize - 1, kDefaultImageSize - 1);
  EXPECT_LE(max_difference(warp_to_input(source, draw, kDefaultImageSize)(inner),
                           resize_square(source(cv::Rect(0, 0, kSide / 2, kSide / 2)), kDefaultImageSize)(inner)),
            1);

  // A quarter turn about the centre is cv::rotate (either way: the sign is a convention).
  draw = draw_augmentation(identity(), kSide, 1, 0, 0);
  draw.rotation_degrees = 90;
  const cv::Mat turned = warp_to_input(source, draw, kDefaultImageSize);
  cv::Mat clockwise, counter;
  cv::rotate(plain, clockwise, cv::ROTATE_90_CLOCKWISE);
  cv::rotate(plain, counter, cv::ROTATE_90_COUNTERCLOCKWISE);
  EXPECT_LE(std::min(max_difference(turned, clockwise), max_difference(turned, counter)), 1);
}

TEST(Augment, RotationReflectsTheSourceAtItsBorders) {
  const cv::Mat source = smooth_source();
  AugmentDraw draw = draw_augmentation(identity(), kSide, 1, 0, 0);
  draw.rotation_degrees = 15;
  const cv::Mat turned = warp_to_input(source, draw, kDefaultImageSize);
  // The corners come from outside the source: reflected content, never black.
  for (const cv::Point corner :
       {cv::Point(0, 0), cv::Point(kDefaultImageSize - 1, 0), cv::Point(0, kDefaultImageSize - 1),
        cv::Point(kDefaultImageSize - 1, kDefaultImageSize - 1)}) {
    const cv::Vec3b pixel = turned.at<cv::Vec3b>(corner);
    EXPECT_GT(pixel[0] + pixel[1] + pixel[2], 0) << corner;
  }
  // Reflection of a uniform image is that image: no border colour leaks in.
  const cv::Mat grey(kSide, kSide, CV_8UC3, cv::Scalar::all(77));
  EXPECT_EQ(max_difference(warp_to_input(grey, draw, kDefaultImageSize),
                           cv::Mat(kDefaultImageSize, kDefaultImageSize, CV_8UC3, cv::Scalar::all(77))),
            0);
}

TEST(Augment, DrawsStayInTheirRangesAndCoverThem) {
  const Augmentation ranges;
  int flips = 0;
  double lowest_area = 1, highest_area = 0, lowest_angle = 0, highest_angle = 0, lowest_factor = 1, highest_factor = 1;
  constexpr int kDraws = 2000;
  for (int sample = 0; sample < kDraws; ++sample) {
    const AugmentDraw draw = draw_augmentation(ranges, kSide, 42, 3, static_cast<size_t>(sample));
    const double area = draw.crop_width * draw.crop_height / (kSide * kSide);
    EXPECT_GE(area, 0.60 - 1e-12);
    EXPECT_LE(area, 1.0 + 1e-12);
    EXPECT_LE(draw.crop_width, kSide);
    EXPECT_LE(draw.crop_height, kSide);
    EXPECT_GE(draw.centre_x - draw.crop_width / 2, -1e-9) << "the crop fits inside the source";
    EXPECT_LE(draw.centre_x + draw.crop_width / 2, kSide + 1e-9);
    EXPECT_GE(draw.centre_y - draw.crop_height / 2, -1e-9);
    EXPECT_LE(draw.centre_y + draw.crop_height / 2, kSide + 1e-9);
    const double aspect = draw.crop_width / draw.crop_height;
    EXPECT_GE(aspect, 3.0 / 4.0 / (4.0 / 3.0) - 1e-9);  // a clamped side can only bring it towards 1
    EXPECT_LE(aspect, 4.0 / 3.0 / (3.0 / 4.0) + 1e-9);
    EXPECT_LE(std::abs(draw.rotation_degrees), 15);
    for (const double factor : {draw.brightness, draw.contrast, draw.saturation}) {
      EXPECT_GE(factor, 0.8);
      EXPECT_LE(factor, 1.2);
      lowest_factor = std::min(lowest_factor, factor);
      highest_factor = std::max(highest_factor, factor);
    }
    flips += draw.flip;
    lowest_area = std::min(lowest_area, area);
    highest_area = std::max(highest_area, area);
    lowest_angle = std::min(lowest_angle, draw.rotation_degrees);
    highest_angle = std::max(highest_angle, draw.rotation_degrees);
  }
  EXPECT_NEAR(flips, kDraws / 2, 150);  // binomial sd 22
  EXPECT_LT(lowest_area, 0.62);
  EXPECT_GT(highest_area, 0.98);
  EXPECT_LT(lowest_angle, -14);
  EXPECT_GT(highest_angle, 14);
  EXPECT_LT(lowest_factor, 0.81);
  EXPECT_GT(highest_factor, 1.19);
}

bool same_draw(const AugmentDraw& a, const AugmentDraw& b) {
  return a.crop_width == b.crop_width && a.crop_height == b.crop_height && a.centre_x == b.centre_x &&
         a.centre_y == b.centre_y && a.rotation_degrees == b.rotation_degrees && a.flip == b.flip &&
         a.brightness == b.brightness && a.contrast == b.contrast && a.saturation == b.saturation;
}

TEST(Augment, DrawsDependOnSeedEpochAndSampleOnly) {
  const Augmentation ranges;
  const AugmentDraw draw = draw_augmentation(ranges, kSide, 7, 1, 9);
  EXPECT_TRUE(same_draw(draw, draw_augmentation(ranges, kSide, 7, 1, 9)));
  EXPECT_FALSE(same_draw(draw, draw_augmentation(ranges, kSide, 8, 1, 9)));
  EXPECT_FALSE(same_draw(draw, draw_augmentation(ranges, kSide, 7, 2, 9)));
  EXPECT_FALSE(same_draw(draw, draw_augmentation(ranges, kSide, 7, 1, 10)));
  EXPECT_FALSE(same_draw(draw_augmentation(ranges, kSide, 0, 1, 0), draw_augmentation(ranges, kSide, 0, 0, 1)))
      << "epoch and sample are not interchangeable";

  // Without rotation the other draws keep their values.
  Augmentation upright;
  upright.max_rotation_degrees = 0;
  const AugmentDraw without = draw_augmentation(upright, kSide, 7, 1, 9);
  EXPECT_EQ(without.rotation_degrees, 0);
  EXPECT_EQ(without.crop_width, draw.crop_width);
  EXPECT_EQ(without.centre_y, draw.centre_y);
  EXPECT_EQ(without.flip, draw.flip);
  EXPECT_EQ(without.saturation, draw.saturation);
}

cv::Mat float_image(std::initializer_list<cv::Vec3f> pixels) {
  cv::Mat image(1, static_cast<int>(pixels.size()), CV_32FC3);
  int column = 0;
  for (const auto& pixel : pixels) image.at<cv::Vec3f>(0, column++) = pixel;
  return image;
}

double grey(const cv::Vec3f& pixel) { return 0.299 * pixel[0] + 0.587 * pixel[1] + 0.114 * pixel[2]; }

void expect_pixels(const cv::Mat& image, std::initializer_list<cv::Vec3f> expected) {
  int column = 0;
  for (const auto& pixel : expected) {
    for (int c = 0; c < 3; ++c)
      EXPECT_NEAR(image.at<cv::Vec3f>(0, column)[c], pixel[c], 1e-3) << "pixel " << column << " channel " << c;
    ++column;
  }
}

TEST(Augment, ColourJitterFollowsTheSpecInOrderAndClamps) {
  cv::Mat image = float_image({{100, 50, 200}, {250, 0, 10}});
  jitter_colours(image, 1.2, 1, 1);
  expect_pixels(image, {{120, 60, 240}, {255, 0, 12}});  // 300 clamped

  image = float_image({{100, 50, 200}, {20, 40, 60}});
  const double mean_grey = (grey({100, 50, 200}) + grey({20, 40, 60})) / 2;
  jitter_colours(image, 1, 0.8, 1);
  const auto contrasted = [&](float x) { return static_cast<float>(mean_grey + 0.8 * (x - mean_grey)); };
  expect_pixels(image, {{contrasted(100), contrasted(50), contrasted(200)}, {contrasted(20), contrasted(40), contrasted(60)}});

  image = float_image({{100, 50, 200}, {90, 90, 90}});
  const double g = grey({100, 50, 200});
  const auto saturated = [&](float x) { return static_cast<float>(g + 1.2 * (x - g)); };
  jitter_colours(image, 1, 1, 1.2);
  expect_pixels(image, {{saturated(100), saturated(50), saturated(200)}, {90, 90, 90}});  // grey stays grey

  // Brightness first, clamped, then contrast about the clamped image's mean:
  // 300 -> 255 and 60, mean 157.5, halved distances. (Unclamped, or in the
  // other order: 240 and 120.)
  image = float_image({{250, 250, 250}, {50, 50, 50}});
  jitter_colours(image, 1.2, 0.5, 1);
  expect_pixels(image, {{206.25f, 206.25f, 206.25f}, {108.75f, 108.75f, 108.75f}});

  EXPECT_THROW(
      [] {
        cv::Mat bytes(2, 2, CV_8UC3);
        jitter_colours(bytes, 1, 1, 1);
      }(),
      Error);
}

TEST(Augment, AugmentedImagesStayInTheByteRange) {
  const cv::Mat source = smooth_source(8);
  Augmentation strong;
  strong.brightness = strong.contrast = strong.saturation = 1;  // factors up to 2
  for (size_t sample = 0; sample < 20; ++sample) {
    const cv::Mat image = augment_image(source, draw_augmentation(strong, kSide, 1, 0, sample), kDefaultImageSize);
    ASSERT_EQ(image.type(), CV_32FC3);
    ASSERT_EQ(image.size(), cv::Size(kDefaultImageSize, kDefaultImageSize));
    double low = 0, high = 0;
    cv::minMaxLoc(image.reshape(1), &low, &high);
    EXPECT_GE(low, 0);
    EXPECT_LE(high, 255);
  }
}

TEST(Augment, RangesOutOfTheirDomainAreRefused) {
  EXPECT_NO_THROW(check_augmentation(Augmentation{}));
  EXPECT_NO_THROW(check_augmentation(identity()));
  const auto refused = [](auto change) {
    Augmentation ranges;
    change(ranges);
    EXPECT_THROW(check_augmentation(ranges), Error);
  };
  refused([](Augmentation& r) { r.min_area = 0; });
  refused([](Augmentation& r) { r.max_area = 1.5; });
  refused([](Augmentation& r) { r.min_area = 0.9, r.max_area = 0.8; });
  refused([](Augmentation& r) { r.min_aspect = 0; });
  refused([](Augmentation& r) { r.min_aspect = 2, r.max_aspect = 1; });
  refused([](Augmentation& r) { r.max_rotation_degrees = -1; });
  refused([](Augmentation& r) { r.flip_probability = 1.5; });
  refused([](Augmentation& r) { r.brightness = -0.1; });
  refused([](Augmentation& r) { r.saturation = 1.5; });
}

}  // namespace
}  // namespace catdog
