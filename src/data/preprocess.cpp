#include "catdog/data/preprocess.h"

#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE
#include <cstring>
#include <new>
#include <string_view>

#include <jpeglib.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "catdog/base/atomic_file.h"
#include "catdog/base/error.h"
#include "catdog/base/image_format.h"
#include "catdog/base/read_file.h"

namespace catdog {

namespace {

Error empty_file(const std::string& name) {
  return Error(name + ": empty file (0 bytes); remove it or replace it with an image");
}

// libjpeg reports fatal errors through error_exit, which must not return,
// and damage it decodes past (a file cut short, corrupt data) as warnings.
struct JpegErrorJump {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char first_warning[JMSG_LENGTH_MAX];
};

[[noreturn]] void jump_on_jpeg_error(j_common_ptr info) {
  std::longjmp(reinterpret_cast<JpegErrorJump*>(info->err)->jump, 1);
}

// "Premature end of JPEG file" and the like (level -1; trace messages are >= 0).
void note_jpeg_warning(j_common_ptr info, int level) {
  if (level >= 0) return;
  auto* error = reinterpret_cast<JpegErrorJump*>(info->err);
  if (error->manager.num_warnings++ == 0) (*info->err->format_message)(info, error->first_warning);
}

// Whether a JPEG's data ends with its end-of-image marker after the last
// scan's start (entropy-coded data stuffs every 0xFF, so neither marker can
// occur inside it): how a file cut short is told when OpenCV decodes it.
bool jpeg_ends_properly(const std::vector<uchar>& bytes) {
  const std::string_view data(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  const size_t last_scan = data.rfind("\xFF\xDA");
  const size_t end = data.rfind("\xFF\xD9");
  return last_scan != std::string_view::npos && end != std::string_view::npos && end > last_scan;
}

bool has_exif(const jpeg_decompress_struct& info) {
  for (auto* marker = info.marker_list; marker != nullptr; marker = marker->next)
    if (marker->marker == JPEG_APP0 + 1 && marker->data_length >= 6 && std::memcmp(marker->data, "Exif\0", 6) == 0)
      return true;
  return false;
}

// OpenCV 4.6 decodes a JPEG with libjpeg to RGB and swaps each row to BGR, at
// twice the cost of the decode alone; we want RGB. This asks the same libjpeg
// for RGB with the same settings (so the same bytes) for the common case: gray
// or YCbCr JPEG without Exif (no orientation to apply) and with Huffman tables.
// Returns false for anything else, or a fatal libjpeg error: decode with OpenCV.
// libjpeg's first warning goes to `damage`.
// Only trivially destructible locals here: longjmp skips destructors.
bool decode_plain_jpeg_rgb(const std::vector<uchar>& bytes, cv::Mat& rgb, std::string& damage) {
  if (bytes.size() < 3 || bytes[0] != 0xFF || bytes[1] != 0xD8 || bytes[2] != 0xFF) return false;
  jpeg_decompress_struct info;
  JpegErrorJump error;
  info.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = jump_on_jpeg_error;
  error.manager.emit_message = note_jpeg_warning;
  error.first_warning[0] = '\0';
  jpeg_create_decompress(&info);
  if (setjmp(error.jump) != 0) {
    jpeg_destroy_decompress(&info);
    return false;
  }
  jpeg_mem_src(&info, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_save_markers(&info, JPEG_APP0 + 1, 0xffff);
  jpeg_read_header(&info, TRUE);
  const bool plain = (info.num_components == 1 || info.num_components == 3) && !has_exif(info) &&
                     (info.ac_huff_tbl_ptrs[0] != nullptr || info.dc_huff_tbl_ptrs[0] != nullptr);
  if (plain) {
    info.out_color_space = JCS_RGB;
    jpeg_start_decompress(&info);
    rgb.create(static_cast<int>(info.output_height), static_cast<int>(info.output_width), CV_8UC3);
    while (info.output_scanline < info.output_height) {
      JSAMPROW row = rgb.ptr<uchar>(static_cast<int>(info.output_scanline));
      jpeg_read_scanlines(&info, &row, 1);
    }
    jpeg_finish_decompress(&info);
  }
  jpeg_destroy_decompress(&info);
  if (plain && error.manager.num_warnings > 0) damage = error.first_warning;
  return plain;
}

Error not_decodable(const std::string& name, const std::string& why) {
  return Error(name + ": not a decodable image (" + why + "); remove it or convert it to JPEG/PNG");
}

// Everything else: cv::imdecode with IMREAD_COLOR (EXIF orientation applied,
// gray/CMYK/alpha/16-bit -> 8-bit). An empty Mat means "not decodable".
cv::Mat decode_with_opencv_rgb(const std::vector<uchar>& bytes, const std::string& name) {
  cv::Mat bgr = cv::imdecode(bytes, cv::IMREAD_COLOR), rgb;
  if (bgr.empty()) throw not_decodable(name, "corrupt or unsupported variant");
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

// The one rule for an image too large, whether its header declares too many
// pixels or its file holds more bytes than such an image can take.
InputTooLarge too_large(const std::string& name, const std::string& what, const DecodeLimits& limits) {
  return InputTooLarge(name + ": " + what + "; shrink it, leave it out or " + limits.how_to_raise);
}

// The format and the declared size, from the header, before any decoder runs.
void check_header(const std::vector<uchar>& bytes, const std::string& name, const DecodeLimits& limits) {
  const auto format = sniff_image_format(bytes.data(), bytes.size());
  if (!format)
    throw Error(name + ": not an image catdog reads (JPEG, PNG, BMP, TIFF or WebP, by its first bytes); "
                "remove it or convert it to JPEG/PNG");
  const auto size = declared_dimensions(bytes.data(), bytes.size());
  if (!size) throw not_decodable(name, std::string(to_string(*format)) + " header cut short or malformed");
  if (!limits.allows(*size))
    throw too_large(name,
                    std::to_string(size->width) + "x" + std::to_string(size->height) + " pixels, more than the " +
                        std::to_string(limits.max_pixels) + " allowed",
                    limits);
}

}  // namespace

cv::Mat decode_rgb(const std::filesystem::path& file, const DecodeLimits& limits) {
  return decode_image(file, limits).rgb;
}

cv::Mat decode_rgb(const std::vector<uchar>& bytes, const std::string& name_for_errors, const DecodeLimits& limits) {
  return decode_image(bytes, name_for_errors, limits).rgb;
}

DecodedImage decode_image(const std::filesystem::path& file, const DecodeLimits& limits) {
  std::vector<uchar> bytes;
  try {
    bytes = read_whole_file(file, limits.max_file_bytes());
  } catch (const InputTooLarge&) {
    throw too_large(file.string(),
                    std::to_string(readable_file_size(file) >> 20) + " MB, more than an image of the " +
                        std::to_string(limits.max_pixels) + " pixels allowed takes (" +
                        std::to_string(limits.max_file_bytes() >> 20) + " MB)",
                    limits);
  }
  return decode_image(bytes, file.string(), limits);
}

DecodedImage decode_image(const std::vector<uchar>& bytes, const std::string& name_for_errors,
                          const DecodeLimits& limits) {
  if (bytes.empty()) throw empty_file(name_for_errors);
  check_header(bytes, name_for_errors, limits);
  // OpenCV reports malformed files and failed allocations by throwing.
  try {
    DecodedImage decoded;
    if (decode_plain_jpeg_rgb(bytes, decoded.rgb, decoded.damage)) return decoded;
    decoded.rgb = decode_with_opencv_rgb(bytes, name_for_errors);
    // OpenCV keeps libjpeg's warnings to itself: a JPEG without its end is one cut short.
    if (sniff_image_format(bytes.data(), bytes.size()) == ImageFormat::Jpeg && !jpeg_ends_properly(bytes))
      decoded.damage = "Premature end of JPEG file";
    return decoded;
  } catch (const cv::Exception& e) {
    throw not_decodable(name_for_errors, "OpenCV: " + first_line(e.err));
  } catch (const std::bad_alloc&) {
    throw not_decodable(name_for_errors, "out of memory");
  }
}

cv::Mat resize_square(const cv::Mat& rgb, int side) {
  cv::Mat resized;
  cv::resize(rgb, resized, cv::Size(side, side), 0, 0, cv::INTER_LINEAR);
  return resized;
}

bool is_valid_image_size(int side) {
  return side >= kMinImageSize && side <= kMaxImageSize && side % kImageSizeStep == 0;
}

std::string image_size_rule() {
  return "a multiple of " + std::to_string(kImageSizeStep) + " from " + std::to_string(kMinImageSize) + " to " +
         std::to_string(kMaxImageSize);
}

void check_image_size(int side) {
  if (!is_valid_image_size(side))
    throw Error("input size " + std::to_string(side) + " px: choose " + image_size_rule());
}

cv::Mat resize_to_input(const cv::Mat& rgb, int side) {
  check_image_size(side);
  return resize_square(rgb, side);
}

void write_input_planes(const cv::Mat& input_rgb, float* chw) {
  const bool bytes = input_rgb.type() == CV_8UC3;
  if (input_rgb.rows != input_rgb.cols || !is_valid_image_size(input_rgb.rows) ||
      !(bytes || input_rgb.type() == CV_32FC3))
    throw Error("expected a square RGB image of an input size (" + image_size_rule() +
                "), 8-bit or float in [0, 255]; pass it through resize_to_input first");
  // x / 127.5 - 1 for every byte value, computed once: the lookup is exact and SIMD.
  static const cv::Mat scale = [] {
    cv::Mat table(1, 256, CV_32F);
    for (int x = 0; x < 256; ++x) table.at<float>(x) = static_cast<float>(x) / 127.5f - 1.0f;
    return table;
  }();
  const int side = input_rgb.rows, plane_size = side * side;
  if (!bytes) {  // the table's arithmetic: whole values give the table's floats, 255 exactly 1
    const cv::Mat continuous = input_rgb.isContinuous() ? input_rgb : input_rgb.clone();
    const auto* pixels = continuous.ptr<cv::Vec3f>();
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < plane_size; ++i) chw[c * plane_size + i] = pixels[i][c] / 127.5f - 1.0f;
    return;
  }
  cv::Mat channels[3];
  cv::split(input_rgb, channels);
  for (int c = 0; c < 3; ++c) {
    cv::Mat plane(side, side, CV_32F, chw + c * plane_size);
    cv::LUT(channels[c], scale, plane);  // writes in place: `plane` has the right size and type
  }
}

torch::Tensor to_input_tensor(const cv::Mat& input_rgb) {
  auto tensor = torch::empty({3, input_rgb.rows, input_rgb.cols}, torch::kFloat32);
  write_input_planes(input_rgb, tensor.data_ptr<float>());
  return tensor;
}

cv::Mat load_input_rgb(const std::filesystem::path& file, int side, const DecodeLimits& limits) {
  return resize_to_input(decode_rgb(file, limits), side);
}

torch::Tensor load_input(const std::filesystem::path& file, int side, const DecodeLimits& limits) {
  return to_input_tensor(load_input_rgb(file, side, limits));
}

void write_rgb_image(const cv::Mat& rgb, const std::filesystem::path& file) {
  if (rgb.empty()) throw Error("cannot write " + file.string() + ": the image is empty");
  cv::Mat bgr;
  if (rgb.channels() == 3)
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  else
    bgr = rgb;
  // Encoded in memory first, then written all or nothing.
  std::vector<uchar> bytes;
  bool encoded = false;
  std::string reason = "use a .png or .jpg name";
  try {
    encoded = cv::imencode(file.extension().string(), bgr, bytes);
  } catch (const cv::Exception& e) {
    reason = "OpenCV says: " + e.err + " (use a .png or .jpg name)";
  }
  if (!encoded) throw Error("cannot write image " + file.string() + ": " + reason);
  std::error_code ignored;  // a missing parent shows up as a failed write below
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ignored);
  write_file_atomically(file, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}


}  // namespace catdog
