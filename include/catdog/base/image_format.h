#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace catdog {

// The image formats catdog reads (those OpenCV 4.6 decodes that photo
// datasets hold). GIF, PNM, HDR, EXR, JPEG 2000 ... are not among them.
enum class ImageFormat { Jpeg, Png, Bmp, Tiff, WebP };
const char* to_string(ImageFormat format);

// The one rule for "is this an image": its leading magic bytes, whatever its
// extension says. Used by the dataset scan, predict's folder walk and
// decode_rgb alike. nullopt for anything else.
std::optional<ImageFormat> sniff_image_format(const unsigned char* bytes, size_t size);

struct ImageDimensions {
  int64_t width = 0, height = 0;
};

// Width and height as the header declares them, read without decoding (the
// same fields the decoders read first). `bytes` may be the file's beginning
// only: nullopt when they end before the dimensions, when the header is
// malformed or declares a zero size, or for an unknown format.
std::optional<ImageDimensions> declared_dimensions(const unsigned char* bytes, size_t size);

// What decode_rgb accepts before it allocates anything for an image.
struct DecodeLimits {
  // Width x height the header may declare. Real photos are far below (a
  // 24-megapixel camera); a 634-byte JPEG can declare 65000 x 65000.
  int64_t max_pixels = 50'000'000;
  // How a message over the limit says to raise it: the application names its flag.
  std::string how_to_raise = "raise the pixel limit";

  bool allows(const ImageDimensions& size) const {
    return size.width <= max_pixels && size.height <= max_pixels / size.width;
  }
  // The largest file read at all: an uncompressed 16-bit RGBA TIFF at the cap.
  uint64_t max_file_bytes() const {
    return max_pixels > (int64_t{1} << 56) ? UINT64_MAX : static_cast<uint64_t>(max_pixels) * 8 + (uint64_t{1} << 20);
  }
};

}  // namespace catdog
