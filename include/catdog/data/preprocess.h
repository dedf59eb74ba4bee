#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <torch/types.h>

#include "catdog/base/image_format.h"

namespace catdog {

// The model's input: a square of `side` pixels. The seed's (the TF
// tutorial's) 160 unless a run chose another; the side a model was trained at
// travels with it (checkpoint.h) and every later step reads it from there.
// Sides catdog takes: multiples of 32 (MobileNetV2's and VGG16's stride) from
// 96 to 512.
inline constexpr int kDefaultImageSize = 160;
inline constexpr int kMinImageSize = 96, kMaxImageSize = 512, kImageSizeStep = 32;
bool is_valid_image_size(int side);
// "a multiple of 32 from 96 to 512": the rule, for messages.
std::string image_size_rule();
// Error naming the rule when `side` breaks it.
void check_image_size(int side);

// A decoded image, and what the decoder noticed while decoding it: "" for
// nothing, else its words, e.g. libjpeg's "Premature end of JPEG file" for a
// truncated JPEG (decoded all the same, the missing part filled in gray).
struct DecodedImage {
  cv::Mat rgb;
  std::string damage;
};

// Decodes an image catdog reads (image_format.h: JPEG, PNG, BMP, TIFF, WebP,
// recognised by their bytes) into 8-bit, 3-channel RGB, exactly as
// cv::imread(IMREAD_COLOR) + BGR->RGB does: EXIF orientation applied,
// gray/CMYK/alpha converted. (Plain JPEGs go straight to RGB through libjpeg,
// with OpenCV's settings: the same bytes, half the time.)
// The declared size is checked against `limits` from the header first.
// Throws UnreadableFile (read_file.h) when the file cannot be read or is not a
// regular file, InputTooLarge over the limits, and Error when it is empty, of
// another format or not decodable; every message starts with the file name.
cv::Mat decode_rgb(const std::filesystem::path& file, const DecodeLimits& limits = {});

// The same from bytes already in memory.
cv::Mat decode_rgb(const std::vector<uchar>& bytes, const std::string& name_for_errors,
                   const DecodeLimits& limits = {});

// decode_rgb, with the damage the decoder noticed.
DecodedImage decode_image(const std::filesystem::path& file, const DecodeLimits& limits = {});
DecodedImage decode_image(const std::vector<uchar>& bytes, const std::string& name_for_errors,
                          const DecodeLimits& limits = {});

// Writes an RGB image as PNG/JPEG (by extension), all or nothing; Error when it cannot.
void write_rgb_image(const cv::Mat& rgb, const std::filesystem::path& file);

// RGB image -> side x side RGB, bilinear (cv::INTER_LINEAR).
cv::Mat resize_square(const cv::Mat& rgb, int side);

// resize_square to the input side.
cv::Mat resize_to_input(const cv::Mat& rgb, int side);

// Square RGB uint8 image (side x side, resize_to_input's) -> float CHW
// tensor, x / 127.5 - 1, so 0 -> -1, 255 -> 1.
torch::Tensor to_input_tensor(const cv::Mat& input_rgb);

// The same values written straight into the 3 planes at `chw` (3 x side x side
// floats): how BatchLoader's worker threads fill their batches, off the
// consumer's thread and without a torch op per batch (whose OpenMP threads spin
// on the cores the decoders need). Also takes a CV_32FC3 image with values
// in [0, 255] (augment_image's).
void write_input_planes(const cv::Mat& input_rgb, float* chw);

// decode_rgb + resize_to_input: the side x side RGB image that load_input converts.
cv::Mat load_input_rgb(const std::filesystem::path& file, int side, const DecodeLimits& limits = {});

// load_input_rgb + to_input_tensor: the one path that training, evaluation
// and prediction all use (BatchLoader batches the same images).
torch::Tensor load_input(const std::filesystem::path& file, int side, const DecodeLimits& limits = {});

}  // namespace catdog
