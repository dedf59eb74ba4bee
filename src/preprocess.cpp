#include "catdog/preprocess.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "catdog/error.h"

namespace catdog {

namespace {

Error empty_file(const std::string& name) {
  return Error(name + ": empty file (0 bytes); remove it or replace it with an image");
}

// `decode` is cv::imread or cv::imdecode with IMREAD_COLOR: EXIF orientation
// applied, gray/CMYK/alpha/16-bit -> 8-bit BGR. Some malformed files make
// OpenCV throw instead of returning an empty Mat: both mean "not decodable".
template <typename Decode>
cv::Mat decode_bgr(Decode decode, const std::string& name) {
  cv::Mat bgr;
  try {
    bgr = decode();
  } catch (const cv::Exception&) {
  }
  if (bgr.empty())
    throw Error(name + ": not a decodable image (corrupt or unsupported format); remove it or convert it to JPEG/PNG");
  return bgr;
}

cv::Mat decode_bgr(const std::filesystem::path& file) {
  std::error_code error;
  const auto size = std::filesystem::file_size(file, error);
  if (error) throw Error(file.string() + ": cannot read the image (" + error.message() + "); check the path");
  if (size == 0) throw empty_file(file.string());
  return decode_bgr([&] { return cv::imread(file.string(), cv::IMREAD_COLOR); }, file.string());
}

cv::Mat bgr_to_rgb(const cv::Mat& bgr) {
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

}  // namespace

cv::Mat decode_rgb(const std::filesystem::path& file) { return bgr_to_rgb(decode_bgr(file)); }

cv::Mat decode_rgb(const std::vector<uchar>& bytes, const std::string& name_for_errors) {
  if (bytes.empty()) throw empty_file(name_for_errors);
  return bgr_to_rgb(decode_bgr([&] { return cv::imdecode(bytes, cv::IMREAD_COLOR); }, name_for_errors));
}

cv::Mat resize_to_input(const cv::Mat& rgb) {
  cv::Mat resized;
  cv::resize(rgb, resized, cv::Size(kImageSize, kImageSize), 0, 0, cv::INTER_LINEAR);
  return resized;
}

torch::Tensor to_input_batch(const torch::Tensor& images_nhwc) {
  auto batch = torch::empty({images_nhwc.size(0), 3, images_nhwc.size(1), images_nhwc.size(2)}, torch::kFloat32);
  batch.copy_(images_nhwc.permute({0, 3, 1, 2}));  // uint8 -> float and HWC -> CHW in one pass
  return batch.div_(127.5).sub_(1.0);
}

torch::Tensor to_input_tensor(const cv::Mat& rgb160) {
  if (rgb160.rows != kImageSize || rgb160.cols != kImageSize || rgb160.type() != CV_8UC3)
    throw Error("to_input_tensor: expected a 160x160 8-bit RGB image; pass it through resize_to_input first");
  const cv::Mat contiguous = rgb160.isContinuous() ? rgb160 : rgb160.clone();
  const auto pixels = torch::from_blob(contiguous.data, {1, kImageSize, kImageSize, 3}, torch::kUInt8);
  return to_input_batch(pixels)[0];
}

// Bilinear interpolation treats channels alike, so resizing before the swap
// gives the same bytes as resize_to_input(decode_rgb(file)).
cv::Mat load_input_rgb(const std::filesystem::path& file) {
  return bgr_to_rgb(resize_to_input(decode_bgr(file)));
}

torch::Tensor load_input(const std::filesystem::path& file) { return to_input_tensor(load_input_rgb(file)); }

}  // namespace catdog
