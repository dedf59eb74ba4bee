#include "catdog/base/image_format.h"

#include <cstring>

namespace catdog {

namespace {

// The header fields, bounds-checked: every read says whether the bytes reach.
class Bytes {
 public:
  Bytes(const unsigned char* data, size_t size) : data_(data), size_(size) {}
  bool has(size_t offset, size_t count) const { return offset <= size_ && count <= size_ - offset; }
  bool starts_with(const char* magic, size_t length, size_t offset = 0) const {
    return has(offset, length) && std::memcmp(data_ + offset, magic, length) == 0;
  }
  unsigned char at(size_t offset) const { return data_[offset]; }
  // Unsigned integers of `count` bytes, little or big endian; call has() first.
  uint32_t le(size_t offset, size_t count) const {
    uint32_t value = 0;
    for (size_t i = count; i-- > 0;) value = value << 8 | data_[offset + i];
    return value;
  }
  uint32_t be(size_t offset, size_t count) const {
    uint32_t value = 0;
    for (size_t i = 0; i < count; ++i) value = value << 8 | data_[offset + i];
    return value;
  }
  size_t size() const { return size_; }

 private:
  const unsigned char* data_;
  size_t size_;
};

std::optional<ImageDimensions> positive(int64_t width, int64_t height) {
  if (width <= 0 || height <= 0) return std::nullopt;
  return ImageDimensions{width, height};
}

// Walks the marker segments to the first start-of-frame, as libjpeg's
// read_markers does: fill bytes and stray bytes between segments are skipped.
std::optional<ImageDimensions> jpeg_dimensions(const Bytes& b) {
  size_t at = 2;  // after SOI
  for (;;) {
    while (b.has(at, 1) && b.at(at) != 0xFF) ++at;  // libjpeg warns and skips these
    while (b.has(at, 1) && b.at(at) == 0xFF) ++at;
    if (!b.has(at, 1)) return std::nullopt;
    const unsigned char marker = b.at(at++);
    const bool standalone = marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8);  // TEM, RSTn, SOI
    if (standalone) continue;
    if (marker == 0xD9 || marker == 0xDA) return std::nullopt;  // EOI or scan data before any frame
    if (!b.has(at, 2)) return std::nullopt;
    const size_t length = b.be(at, 2);
    if (length < 2) return std::nullopt;
    const bool frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (frame) {  // length, precision, height, width
      if (!b.has(at, 7)) return std::nullopt;
      return positive(b.be(at + 5, 2), b.be(at + 3, 2));
    }
    at += length;
  }
}

std::optional<ImageDimensions> png_dimensions(const Bytes& b) {
  if (!b.starts_with("IHDR", 4, 12) || !b.has(16, 8)) return std::nullopt;
  return positive(b.be(16, 4), b.be(20, 4));
}

std::optional<ImageDimensions> bmp_dimensions(const Bytes& b) {
  if (!b.has(14, 4)) return std::nullopt;
  if (b.le(14, 4) == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sizes
    if (!b.has(18, 4)) return std::nullopt;
    return positive(b.le(18, 2), b.le(20, 2));
  }
  if (!b.has(18, 8)) return std::nullopt;
  const auto height = static_cast<int32_t>(b.le(22, 4));  // negative: rows stored top-down
  return positive(static_cast<int32_t>(b.le(18, 4)), height < 0 ? -int64_t{height} : height);
}

std::optional<ImageDimensions> webp_dimensions(const Bytes& b) {
  if (b.starts_with("VP8 ", 4, 12)) {  // lossy: frame tag, start code 9d 01 2a, 14-bit sizes
    if (!b.starts_with("\x9d\x01\x2a", 3, 23) || !b.has(26, 4)) return std::nullopt;
    return positive(b.le(26, 2) & 0x3FFF, b.le(28, 2) & 0x3FFF);
  }
  if (b.starts_with("VP8L", 4, 12)) {  // lossless: signature 0x2f, then width-1 and height-1 in 14 bits
    if (!b.has(20, 5) || b.at(20) != 0x2F) return std::nullopt;
    const uint32_t bits = b.le(21, 4);
    return positive((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1);
  }
  if (b.starts_with("VP8X", 4, 12)) {  // extended: canvas width-1 and height-1 in 24 bits
    if (!b.has(24, 6)) return std::nullopt;
    return positive(int64_t{b.le(24, 3)} + 1, int64_t{b.le(27, 3)} + 1);
  }
  return std::nullopt;
}

// The first image file directory's ImageWidth (256) and ImageLength (257).
std::optional<ImageDimensions> tiff_dimensions(const Bytes& b) {
  const bool little = b.at(0) == 'I';
  const auto read = [&](size_t offset, size_t count) { return little ? b.le(offset, count) : b.be(offset, count); };
  if (!b.has(4, 4)) return std::nullopt;
  const size_t directory = read(4, 4);
  if (!b.has(directory, 2)) return std::nullopt;
  const size_t entries = read(directory, 2);
  int64_t width = 0, height = 0;
  for (size_t i = 0; i < entries; ++i) {
    const size_t entry = directory + 2 + 12 * i;
    if (!b.has(entry, 12)) return std::nullopt;
    const uint32_t tag = read(entry, 2), type = read(entry + 2, 2);
    if (tag != 256 && tag != 257) continue;
    int64_t value = 0;
    if (type == 3)  // SHORT, left-justified in the value field
      value = read(entry + 8, 2);
    else if (type == 4)  // LONG
      value = read(entry + 8, 4);
    else
      return std::nullopt;
    (tag == 256 ? width : height) = value;
  }
  return positive(width, height);
}

}  // namespace

const char* to_string(ImageFormat format) {
  switch (format) {
    case ImageFormat::Jpeg: return "JPEG";
    case ImageFormat::Png: return "PNG";
    case ImageFormat::Bmp: return "BMP";
    case ImageFormat::Tiff: return "TIFF";
    case ImageFormat::WebP: return "WebP";
  }
  return "unknown";
}

std::optional<ImageFormat> sniff_image_format(const unsigned char* bytes, size_t size) {
  const Bytes b(bytes, size);
  if (b.starts_with("\xFF\xD8\xFF", 3)) return ImageFormat::Jpeg;
  if (b.starts_with("\x89PNG\r\n\x1A\n", 8)) return ImageFormat::Png;
  if (b.starts_with("BM", 2)) return ImageFormat::Bmp;
  if (b.starts_with("II*\0", 4) || b.starts_with("MM\0*", 4)) return ImageFormat::Tiff;
  if (b.starts_with("RIFF", 4) && b.starts_with("WEBP", 4, 8)) return ImageFormat::WebP;
  return std::nullopt;
}

std::optional<ImageDimensions> declared_dimensions(const unsigned char* bytes, size_t size) {
  const auto format = sniff_image_format(bytes, size);
  if (!format) return std::nullopt;
  const Bytes b(bytes, size);
  switch (*format) {
    case ImageFormat::Jpeg: return jpeg_dimensions(b);
    case ImageFormat::Png: return png_dimensions(b);
    case ImageFormat::Bmp: return bmp_dimensions(b);
    case ImageFormat::Tiff: return tiff_dimensions(b);
    case ImageFormat::WebP: return webp_dimensions(b);
  }
  return std::nullopt;
}

}  // namespace catdog
