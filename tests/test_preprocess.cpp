#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "catdog/base/error.h"
#include "catdog/base/read_file.h"
#include "catdog/data/preprocess.h"
#include "odd_images.h"
#include "test_support.h"

namespace catdog {
namespace {

using testing::TempDir;

cv::Vec3b rgb_at(const cv::Mat& rgb, int row, int col) { return rgb.at<cv::Vec3b>(row, col); }

TEST(Preprocess, InputTensorValuesAreExactAndInRgbOrder) {
  TempDir dir;
  cv::Mat bgr(kDefaultImageSize, kDefaultImageSize, CV_8UC3, cv::Scalar(0, 0, 255));  // pure red
  bgr(cv::Rect(0, 80, 160, 40)).setTo(cv::Scalar(0, 0, 0));                      // rows 80..119 black
  bgr(cv::Rect(0, 120, 160, 20)).setTo(cv::Scalar(255, 255, 255));               // rows 120..139 white
  bgr(cv::Rect(0, 140, 160, 20)).setTo(cv::Scalar(127, 127, 127));               // rows 140..159 gray 127
  cv::imwrite((dir / "known.png").string(), bgr);  // lossless, and 160x160 so resizing is the identity

  const auto input = load_input(dir / "known.png", kDefaultImageSize);
  ASSERT_EQ(input.sizes(), (std::vector<int64_t>{3, kDefaultImageSize, kDefaultImageSize}));
  EXPECT_EQ(input.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(input.is_contiguous());
  const auto at = [&](int c, int row, int col) { return input[c][row][col].item<float>(); };
  EXPECT_EQ(at(0, 10, 10), 1.0f);  // R
  EXPECT_EQ(at(1, 10, 10), -1.0f);
  EXPECT_EQ(at(2, 10, 10), -1.0f);
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(at(c, 100, 5), -1.0f);
    EXPECT_EQ(at(c, 130, 5), 1.0f);
    EXPECT_EQ(at(c, 150, 5), 127.0f / 127.5f - 1.0f);
  }
}

TEST(Preprocess, InputTensorIsTheFormulaForEveryPixel) {
  cv::Mat rgb(kDefaultImageSize, kDefaultImageSize, CV_8UC3);
  cv::randu(rgb, cv::Scalar::all(0), cv::Scalar::all(256));
  const auto input = to_input_tensor(rgb);
  const auto hwc = torch::from_blob(rgb.data, {kDefaultImageSize, kDefaultImageSize, 3}, torch::kUInt8);
  const auto expected = hwc.permute({2, 0, 1}).to(torch::kFloat32) / 127.5f - 1.0f;
  EXPECT_TRUE(torch::equal(input, expected));
  EXPECT_EQ(input[2][7][9].item<float>(), rgb_at(rgb, 7, 9)[2] / 127.5f - 1.0f);

  std::vector<float> planes(3 * kDefaultImageSize * kDefaultImageSize);
  write_input_planes(rgb, planes.data());
  EXPECT_TRUE(torch::equal(torch::from_blob(planes.data(), {3, kDefaultImageSize, kDefaultImageSize}), input));
}

TEST(Preprocess, ResizeIsOpenCvBilinear) {
  TempDir dir;
  cv::Mat bgr(233, 311, CV_8UC3);
  cv::randu(bgr, cv::Scalar::all(0), cv::Scalar::all(256));
  cv::imwrite((dir / "noise.png").string(), bgr);
  cv::Mat rgb, expected;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  cv::resize(rgb, expected, cv::Size(160, 160), 0, 0, cv::INTER_LINEAR);

  const auto resized = resize_to_input(decode_rgb(dir / "noise.png"), kDefaultImageSize);
  ASSERT_EQ(resized.size(), cv::Size(160, 160));
  EXPECT_EQ(cv::norm(resized, expected, cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(load_input_rgb(dir / "noise.png", kDefaultImageSize), expected, cv::NORM_INF), 0.0)
      << "resizing before the channel swap must not change a byte";
  const auto tensor = load_input(dir / "noise.png", kDefaultImageSize);
  EXPECT_EQ(tensor[1][33][44].item<float>(), rgb_at(expected, 33, 44)[1] / 127.5f - 1.0f);
}

// Every input size of the rule resizes and converts the same way; others are refused.
TEST(Preprocess, TheInputSizeIsAParameterWithinItsRule) {
  TempDir dir;
  cv::Mat bgr(233, 311, CV_8UC3);
  cv::randu(bgr, cv::Scalar::all(0), cv::Scalar::all(256));
  cv::imwrite((dir / "noise.png").string(), bgr);
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  for (const int side : {96, 224, 512}) {
    cv::Mat expected;
    cv::resize(rgb, expected, cv::Size(side, side), 0, 0, cv::INTER_LINEAR);
    const auto tensor = load_input(dir / "noise.png", side);
    ASSERT_EQ(tensor.sizes(), (std::vector<int64_t>{3, side, side}));
    EXPECT_EQ(tensor[2][side - 1][7].item<float>(), rgb_at(expected, side - 1, 7)[2] / 127.5f - 1.0f) << side;
  }
  for (const int side : {0, 64, 100, 160 + 16, 544, 4096}) {
    EXPECT_FALSE(is_valid_image_size(side)) << side;
    EXPECT_NE(testing::error_of([&] { load_input(dir / "noise.png", side); }).find("a multiple of 32 from 96 to 512"),
              std::string::npos)
        << side;
  }
  EXPECT_THROW(to_input_tensor(cv::Mat(96, 128, CV_8UC3)), Error) << "not square";
}

// decode_rgb's own libjpeg path must give exactly what OpenCV gives.
void expect_same_as_opencv(const std::filesystem::path& file) {
  cv::Mat expected;
  cv::cvtColor(cv::imread(file.string(), cv::IMREAD_COLOR), expected, cv::COLOR_BGR2RGB);
  const auto rgb = decode_rgb(file);
  ASSERT_EQ(rgb.size(), expected.size()) << file;
  ASSERT_EQ(rgb.type(), CV_8UC3) << file;
  EXPECT_EQ(cv::norm(rgb, expected, cv::NORM_INF), 0.0) << file;
}

TEST(Preprocess, DecodeMatchesOpenCvBitForBit) {
  TempDir dir;
  const auto photo = testing::synthetic_pet_bgr(true, 3, 203, 151);  // odd sizes: partial MCUs
  cv::imwrite((dir / "baseline.jpg").string(), photo);
  cv::imwrite((dir / "progressive.jpg").string(), photo, {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
  cv::imwrite((dir / "quality40.jpg").string(), photo, {cv::IMWRITE_JPEG_QUALITY, 40});
  cv::Mat gray;
  cv::cvtColor(photo, gray, cv::COLOR_BGR2GRAY);
  cv::imwrite((dir / "gray.jpg").string(), gray);
  auto half = testing::encode(photo, ".jpg");
  half.resize(half.size() / 2);
  testing::write_bytes(dir / "half.jpg", half);
  testing::write_bytes(dir / "exif.jpg", testing::exif_jpeg(photo, 8));
  testing::write_bytes(dir / "cmyk.jpg", testing::cmyk_jpeg_bytes());
  for (const char* name : {"baseline.jpg", "progressive.jpg", "quality40.jpg", "gray.jpg", "half.jpg", "exif.jpg",
                           "cmyk.jpg"})
    expect_same_as_opencv(dir / name);

  const auto shared = testing::shared_dir();
  if (shared.empty()) GTEST_SKIP() << "../shared absent: real photos not compared";
  int compared = 0;
  for (const char* label : {"cat", "dog"})
    for (const auto& entry : std::filesystem::directory_iterator(shared / "data/catdog-dev" / label))
      if (compared++ % 10 == 0) expect_same_as_opencv(entry.path());  // every 10th: 300 real photos
}

TEST(Preprocess, GrayscaleJpegBecomesThreeEqualChannels) {
  TempDir dir;
  cv::imwrite((dir / "gray.jpg").string(), cv::Mat(30, 40, CV_8UC1, cv::Scalar(90)));
  const auto rgb = decode_rgb(dir / "gray.jpg");
  ASSERT_EQ(rgb.type(), CV_8UC3);
  EXPECT_EQ(rgb_at(rgb, 15, 20), cv::Vec3b(90, 90, 90));
}

TEST(Preprocess, PngWithAlphaDropsAlpha) {
  TempDir dir;
  cv::Mat bgra(20, 20, CV_8UC4, cv::Scalar(10, 20, 30, 0));  // fully transparent: colour kept as is
  cv::imwrite((dir / "alpha.png").string(), bgra);
  const auto rgb = decode_rgb(dir / "alpha.png");
  ASSERT_EQ(rgb.type(), CV_8UC3);
  EXPECT_EQ(rgb_at(rgb, 3, 3), cv::Vec3b(30, 20, 10));
}

TEST(Preprocess, CmykJpegDecodesToRgb) {
  const auto rgb = decode_rgb(testing::cmyk_jpeg_bytes(), "cmyk.jpg");
  ASSERT_EQ(rgb.type(), CV_8UC3);
  ASSERT_EQ(rgb.size(), cv::Size(8, 8));
  const cv::Vec3b pillow(200, 43, 24);  // what Pillow makes of the same file
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(rgb_at(rgb, 4, 4)[c], pillow[c], 3) << "channel " << c;
}

TEST(Preprocess, ExifOrientationIsApplied) {
  TempDir dir;
  cv::Mat bgr(20, 40, CV_8UC3, cv::Scalar(0, 0, 255));    // left half red,
  bgr(cv::Rect(20, 0, 20, 20)).setTo(cv::Scalar(255, 0, 0));  // right half blue
  const auto bytes = testing::exif_jpeg(bgr, 6);  // 6: rotate 90 degrees clockwise to display
  testing::write_bytes(dir / "rotated.jpg", bytes);

  for (const auto& rgb : {decode_rgb(dir / "rotated.jpg"), decode_rgb(bytes, "rotated.jpg")}) {
    ASSERT_EQ(rgb.size(), cv::Size(20, 40));  // width 20, height 40
    EXPECT_GT(rgb_at(rgb, 5, 10)[0], 200);    // the left (red) half is now on top
    EXPECT_GT(rgb_at(rgb, 35, 10)[2], 200);   // the right (blue) half at the bottom
  }
  testing::write_bytes(dir / "upright.jpg", testing::exif_jpeg(bgr, 1));
  EXPECT_EQ(decode_rgb(dir / "upright.jpg").size(), cv::Size(40, 20));
}

TEST(Preprocess, TruncatedJpegDecodesWithGrayFill) {
  // libjpeg pads a scan cut short and warns; OpenCV returns the image. We keep it:
  // TFDS and Keras train on such files too.
  TempDir dir;
  auto bytes = testing::encode(testing::synthetic_pet_bgr(true, 1), ".jpg");
  bytes.resize(bytes.size() / 2);
  testing::write_bytes(dir / "half.jpg", bytes);
  EXPECT_EQ(decode_rgb(dir / "half.jpg").size(), cv::Size(200, 150));
}

// Issue 22, item 13: the decoder says it was damaged, on libjpeg's own path
// and on OpenCV's (a phone photo with Exif), and says nothing for whole files.
TEST(Preprocess, ADamagedJpegIsDecodedAndReportedAsDamaged) {
  const auto photo = testing::synthetic_pet_bgr(true, 1);
  for (const auto& whole : {testing::encode(photo, ".jpg"), testing::exif_jpeg(photo, 1)}) {
    EXPECT_EQ(decode_image(whole, "whole.jpg").damage, "");
    auto cut = whole;
    cut.resize(cut.size() * 3 / 10);
    const auto decoded = decode_image(cut, "cut.jpg");
    EXPECT_EQ(decoded.rgb.size(), cv::Size(200, 150));
    EXPECT_EQ(decoded.damage, "Premature end of JPEG file");
  }
  EXPECT_EQ(decode_image(testing::encode(photo, ".png"), "whole.png").damage, "");
}

TEST(Preprocess, HeadersDeclaringTooManyPixelsAreRefusedBeforeDecoding) {
  const auto photo = testing::synthetic_pet_bgr(true, 2, 40, 30);
  for (const char* extension : {".jpg", ".png", ".bmp", ".tiff", ".webp"}) {
    // 65000 x 65000 (WebP: its maximum, 16384 x 16384) in a file of a few kB.
    const auto huge = testing::declaring_size(testing::encode(photo, extension), 65000, 65000);
    try {
      decode_rgb(huge, std::string("huge") + extension);
      ADD_FAILURE() << extension << " decoded";
    } catch (const InputTooLarge& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr(std::string("huge") + extension + ": "));
      EXPECT_THAT(e.what(), ::testing::HasSubstr("more than the 50000000 allowed"));
    }
  }
}

TEST(Preprocess, PixelLimitIsAParameter) {
  const auto photo = testing::synthetic_pet_bgr(false, 4, 40, 30);  // 1200 pixels
  DecodeLimits exact, one_less;
  exact.max_pixels = 1200;
  one_less.max_pixels = 1199;
  for (const char* extension : {".jpg", ".png", ".bmp", ".tiff", ".webp"}) {
    const auto bytes = testing::encode(photo, extension);
    EXPECT_EQ(decode_rgb(bytes, extension, exact).size(), cv::Size(40, 30)) << extension;
    EXPECT_THROW(decode_rgb(bytes, extension, one_less), InputTooLarge) << extension;
  }
  TempDir dir;
  testing::write_bytes(dir / "photo.png", testing::encode(photo, ".png"));
  EXPECT_THROW(load_input(dir / "photo.png", kDefaultImageSize, one_less), InputTooLarge);
  EXPECT_EQ(load_input(dir / "photo.png", kDefaultImageSize, exact).size(0), 3);
}

TEST(Preprocess, FilesLargerThanAnyImageWithinTheLimitAreNotRead) {
  TempDir dir;
  DecodeLimits tiny;
  tiny.max_pixels = 1000;  // files up to 8000 bytes + 1 MB
  testing::write_bytes(dir / "big.jpg", std::vector<uint8_t>(tiny.max_file_bytes() + 1, 0xFF));
  EXPECT_THROW(decode_rgb(dir / "big.jpg", tiny), InputTooLarge);
}

// Issue 22, item 21: a file too large for any image within the pixel limit
// (a 3 GB sparse .jpg) is refused by the same rule, in the same words, as a
// header declaring too many pixels, with the application's way to raise it.
TEST(Preprocess, AFileTooLargeForTheLimitGetsThePixelRulesMessage) {
  TempDir dir;
  auto bytes = testing::encode(testing::synthetic_pet_bgr(true, 3), ".jpg");
  testing::write_bytes(dir / "sparse.jpg", bytes);
  std::filesystem::resize_file(dir / "sparse.jpg", uint64_t{3} << 30);  // a hole: no disk used
  DecodeLimits limits;
  limits.how_to_raise = "raise --max-pixels";
  try {
    decode_rgb(dir / "sparse.jpg", limits);
    ADD_FAILURE() << "decoded";
  } catch (const InputTooLarge& e) {
    EXPECT_EQ(std::string(e.what()), (dir / "sparse.jpg").string() +
                                         ": 3072 MB, more than an image of the 50000000 pixels allowed takes (382 "
                                         "MB); shrink it, leave it out or raise --max-pixels");
  }
  const auto huge = testing::declaring_size(bytes, 65000, 65000);
  EXPECT_THAT(testing::error_of([&] { decode_rgb(huge, "huge.jpg", limits); }),
              ::testing::EndsWith("more than the 50000000 allowed; shrink it, leave it out or raise --max-pixels"));
}

TEST(Preprocess, OnlyTheFormatsCatdogReadsAreDecoded) {
  const auto ppm = testing::encode(testing::synthetic_pet_bgr(false, 5, 40, 30), ".ppm");
  ASSERT_FALSE(cv::imdecode(ppm, cv::IMREAD_COLOR).empty()) << "OpenCV itself would read it";
  try {
    decode_rgb(ppm, "photo.ppm");
    ADD_FAILURE() << "PPM decoded";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("photo.ppm: not an image catdog reads (JPEG, PNG, BMP, TIFF or WebP"));
  }
}

// A FIFO would block a plain open() forever (until a writer comes); a folder or a device is no image either.
TEST(Preprocess, OnlyRegularFilesAreReadAndNothingBlocks) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "fifo.jpg").c_str(), 0600), 0);
  std::filesystem::create_directory(dir / "folder.jpg");
  for (const auto& [path, kind] : {std::pair<std::filesystem::path, std::string>{dir / "fifo.jpg", "a FIFO"},
                                   {dir / "folder.jpg", "a folder"},
                                   {"/dev/zero", "a device"}}) {
    try {
      decode_rgb(path);
      ADD_FAILURE() << path << " decoded";
    } catch (const UnreadableFile& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr(path.string() + ": " + kind + ", not a regular file"));
    }
  }
}

TEST(Preprocess, AnUnreadableImageSaysWhyNotEmpty) {
  TempDir dir;
  testing::write_bytes(dir / "locked.jpg", testing::encode(testing::synthetic_pet_bgr(true, 1), ".jpg"));
  std::filesystem::permissions(dir / "locked.jpg", std::filesystem::perms::none);
  std::filesystem::create_symlink("loop.jpg", dir / "loop.jpg");
  const testing::WithoutRootPrivileges as_a_user;
  for (const auto& [name, reason] : {std::pair<std::string, std::string>{"locked.jpg", "Permission denied"},
                                     {"loop.jpg", "Too many levels of symbolic links"},
                                     {"missing.jpg", "No such file or directory"}}) {
    try {
      decode_rgb(dir / name);
      ADD_FAILURE() << name << " decoded";
    } catch (const UnreadableFile& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr((dir / name).string() + ": cannot read it (" + reason + ")"));
    }
  }
}

TEST(Preprocess, UnreadableFilesThrowErrorsNamingTheFile) {
  TempDir dir;
  auto header_only = testing::encode(testing::synthetic_pet_bgr(false, 1), ".jpg");
  header_only.resize(200);  // cut inside the headers: no image data at all
  testing::write_bytes(dir / "header_only.jpg", header_only);
  testing::write_bytes(dir / "empty.jpg", {});
  testing::write_bytes(dir / "anim.gif.jpg", testing::gif_bytes());
  testing::write_bytes(dir / "notes.jpg", {'h', 'e', 'l', 'l', 'o'});
  for (const char* name : {"header_only.jpg", "empty.jpg", "anim.gif.jpg", "notes.jpg", "missing.jpg"}) {
    try {
      decode_rgb(dir / name);
      ADD_FAILURE() << name << " decoded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(decode_rgb(std::vector<uchar>{}, "nothing"), Error);
  EXPECT_THROW(to_input_tensor(cv::Mat(10, 10, CV_8UC3)), Error);
}

TEST(Preprocess, WriteRgbImageSwapsChannelsAndReportsFailures) {
  TempDir dir;
  cv::Mat red(10, 20, CV_8UC3, cv::Scalar(255, 0, 0));  // RGB
  write_rgb_image(red, dir / "red.png");
  const cv::Mat back = cv::imread((dir / "red.png").string());
  EXPECT_EQ(back.size(), cv::Size(20, 10));
  EXPECT_EQ(back.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 255));  // BGR
  EXPECT_THAT(testing::error_of([&] { write_rgb_image(red, dir / "red.unknown-extension"); }),
              ::testing::StartsWith("cannot write image " + (dir / "red.unknown-extension").string() + ": "));
  EXPECT_EQ(testing::error_of([&] { write_rgb_image(cv::Mat(), dir / "empty.png"); }),
            "cannot write " + (dir / "empty.png").string() + ": the image is empty");
  std::filesystem::create_directories(dir / "taken.png");  // a folder where the file should go
  EXPECT_THROW(write_rgb_image(red, dir / "taken.png"), Error);
}

}  // namespace
}  // namespace catdog
