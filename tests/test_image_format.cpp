// The one "is this an image" rule and the header sizes read before decoding.
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "catdog/base/image_format.h"
#include "odd_images.h"
#include "test_support.h"

namespace catdog {
namespace {

std::optional<ImageFormat> sniff(const std::vector<uint8_t>& bytes) {
  return sniff_image_format(bytes.data(), bytes.size());
}

std::optional<ImageDimensions> dimensions(const std::vector<uint8_t>& bytes) {
  return declared_dimensions(bytes.data(), bytes.size());
}

void expect_dimensions(const std::vector<uint8_t>& bytes, int64_t width, int64_t height, const std::string& what) {
  const auto size = dimensions(bytes);
  ASSERT_TRUE(size) << what;
  EXPECT_EQ(size->width, width) << what;
  EXPECT_EQ(size->height, height) << what;
}

const cv::Mat& photo() {
  static const cv::Mat image = testing::synthetic_pet_bgr(false, 1, 37, 23);
  return image;
}

TEST(ImageFormat, SniffsEveryFormatByItsBytesNotItsName) {
  EXPECT_EQ(sniff(testing::encode(photo(), ".jpg")), ImageFormat::Jpeg);
  EXPECT_EQ(sniff(testing::encode(photo(), ".png")), ImageFormat::Png);
  EXPECT_EQ(sniff(testing::encode(photo(), ".bmp")), ImageFormat::Bmp);
  EXPECT_EQ(sniff(testing::encode(photo(), ".tiff")), ImageFormat::Tiff);
  EXPECT_EQ(sniff(testing::encode(photo(), ".webp")), ImageFormat::WebP);
  EXPECT_EQ(sniff(testing::encode(photo(), ".ppm")), std::nullopt);  // OpenCV reads it; catdog does not
  EXPECT_EQ(sniff(testing::gif_bytes()), std::nullopt);
  EXPECT_EQ(sniff({'m', 'e', 'o', 'w'}), std::nullopt);
  EXPECT_EQ(sniff({}), std::nullopt);
  EXPECT_EQ(sniff({'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'A', 'V', 'E'}), std::nullopt);  // a RIFF, not WebP
}

TEST(ImageFormat, ReadsTheDeclaredSizeOfEveryFormat) {
  for (const char* extension : {".jpg", ".png", ".bmp", ".tiff", ".webp"})
    expect_dimensions(testing::encode(photo(), extension), 37, 23, extension);
  cv::Mat gray;
  cv::cvtColor(photo(), gray, cv::COLOR_BGR2GRAY);
  expect_dimensions(testing::encode(gray, ".png"), 37, 23, "gray PNG");
  std::vector<uint8_t> progressive;
  cv::imencode(".jpg", photo(), progressive, {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
  expect_dimensions(progressive, 37, 23, "progressive JPEG");
  std::vector<uint8_t> lossless;
  cv::imencode(".webp", photo(), lossless, {cv::IMWRITE_WEBP_QUALITY, 101});  // above 100: VP8L
  expect_dimensions(lossless, 37, 23, "lossless WebP");
  // The frame comes after a 20 kB Exif block, as phone photos have it; orientation is not applied.
  expect_dimensions(testing::exif_jpeg(photo(), 6, 20000), 37, 23, "Exif JPEG");
  expect_dimensions(testing::cmyk_jpeg_bytes(), 8, 8, "CMYK JPEG");
}

TEST(ImageFormat, ToleratesStrayBytesBetweenJpegSegmentsAsLibjpegDoes) {
  auto jpeg = testing::encode(photo(), ".jpg");
  const size_t app0_end = 4 + (size_t{jpeg[4]} << 8 | jpeg[5]);
  jpeg.insert(jpeg.begin() + static_cast<std::ptrdiff_t>(app0_end), {0x00, 0x12, 0xFF, 0xFF});
  ASSERT_FALSE(cv::imdecode(jpeg, cv::IMREAD_COLOR).empty()) << "libjpeg reads it";
  expect_dimensions(jpeg, 37, 23, "stray bytes and fill bytes");
}

TEST(ImageFormat, AHeaderCutShortOrMalformedHasNoSize) {
  for (const char* extension : {".jpg", ".png", ".bmp", ".webp"}) {
    auto bytes = testing::encode(photo(), extension);
    bytes.resize(14);  // the signature, not the size fields
    EXPECT_EQ(dimensions(bytes), std::nullopt) << extension;
  }
  auto png = testing::encode(photo(), ".png");
  png[20] = png[21] = png[22] = png[23] = 0;  // height 0
  EXPECT_EQ(dimensions(png), std::nullopt);
  auto jpeg = testing::encode(photo(), ".jpg");
  jpeg.resize(2);
  EXPECT_EQ(dimensions(jpeg), std::nullopt);
  const std::vector<uint8_t> tiff_pointing_past_its_end = {'I', 'I', 42, 0, 0xFF, 0xFF, 0, 0};
  EXPECT_EQ(dimensions(tiff_pointing_past_its_end), std::nullopt);
}

TEST(ImageFormat, LimitsCompareWithoutOverflow) {
  DecodeLimits limits;
  EXPECT_EQ(limits.max_pixels, 50'000'000);
  EXPECT_TRUE(limits.allows({10'000, 5'000}));
  EXPECT_FALSE(limits.allows({10'000, 5'001}));
  EXPECT_FALSE(limits.allows({65'000, 65'000}));
  EXPECT_FALSE(limits.allows({int64_t{1} << 32, int64_t{1} << 32}));  // the product overflows 64 bits
  limits.max_pixels = INT64_MAX;
  EXPECT_TRUE(limits.allows({int64_t{1} << 32, int64_t{1} << 30}));
  EXPECT_EQ(limits.max_file_bytes(), UINT64_MAX);
}

// The header parser agrees with the decoder on real photos (every 10th of ../shared's).
TEST(ImageFormat, DeclaredSizeIsTheDecodedSizeOfRealPhotos) {
  const auto shared = testing::shared_dir();
  if (shared.empty()) GTEST_SKIP() << "../shared absent";
  int count = 0;
  for (const char* label : {"cat", "dog"})
    for (const auto& entry : std::filesystem::directory_iterator(shared / "data/catdog-dev" / label)) {
      if (count++ % 10 != 0) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const auto decoded = cv::imdecode(bytes, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
      expect_dimensions(bytes, decoded.cols, decoded.rows, entry.path().string());
    }
}

}  // namespace
}  // namespace catdog
