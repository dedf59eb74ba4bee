#include "catdog/data/augment.h"

#include <algorithm>
#include <cmath>
#include <string>

#include <opencv2/imgproc.hpp>

#include "catdog/base/error.h"
#include "catdog/data/preprocess.h"

namespace catdog {

namespace {

constexpr double kPi = 3.14159265358979323846;
// ITU-R BT.601 luma, as cv::cvtColor's RGB2GRAY.
constexpr double kGreyR = 0.299, kGreyG = 0.587, kGreyB = 0.114;

// SplitMix64's output function: a bijection that scatters neighbouring inputs.
uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// SplitMix64 from a key of (seed, epoch, sample). Not std::mt19937 with
// std::uniform_real_distribution: their draws differ between standard
// libraries, these do not.
class DrawStream {
 public:
  DrawStream(uint64_t seed, int epoch, size_t sample)
      : state_(mix(mix(mix(seed) ^ static_cast<uint64_t>(static_cast<uint32_t>(epoch))) ^ sample)) {}
  double uniform(double low, double high) {
    state_ += 0x9E3779B97F4A7C15ULL;
    const double unit = static_cast<double>(mix(state_) >> 11) * 0x1.0p-53;  // [0, 1)
    return low + (high - low) * unit;
  }

 private:
  uint64_t state_;
};

void clamp_to_bytes(cv::Mat& image) {
  cv::min(image, 255.0, image);
  cv::max(image, 0.0, image);
}

void require(bool ok, const std::string& what) {
  if (!ok) throw Error("augmentation: " + what + "; use the recipe's defaults or fix the range");
}

}  // namespace

void check_augmentation(const Augmentation& ranges) {
  require(ranges.min_area > 0 && ranges.min_area <= ranges.max_area && ranges.max_area <= 1,
          "the crop area range must lie in (0, 1] with min <= max");
  require(ranges.min_aspect > 0 && ranges.min_aspect <= ranges.max_aspect,
          "the crop aspect range must be positive with min <= max");
  require(ranges.max_rotation_degrees >= 0 && ranges.max_rotation_degrees <= 180,
          "the rotation range must be 0 to 180 degrees");
  require(ranges.flip_probability >= 0 && ranges.flip_probability <= 1, "the flip probability must be 0 to 1");
  for (const double jitter : {ranges.brightness, ranges.contrast, ranges.saturation})
    require(jitter >= 0 && jitter <= 1, "colour jitter must be 0 to 1 (factors in [1 - x, 1 + x])");
}

AugmentDraw draw_augmentation(const Augmentation& ranges, int source_side, uint64_t seed, int epoch, size_t sample) {
  DrawStream stream(seed, epoch, sample);
  const double side = source_side;
  const double area = stream.uniform(ranges.min_area, ranges.max_area);
  const double aspect = std::exp(stream.uniform(std::log(ranges.min_aspect), std::log(ranges.max_aspect)));
  AugmentDraw draw;
  draw.crop_width = std::min(side, side * std::sqrt(area * aspect));
  draw.crop_height = std::min(side, side * std::sqrt(area / aspect));
  draw.centre_x = stream.uniform(draw.crop_width / 2, side - draw.crop_width / 2);
  draw.centre_y = stream.uniform(draw.crop_height / 2, side - draw.crop_height / 2);
  draw.rotation_degrees = stream.uniform(-ranges.max_rotation_degrees, ranges.max_rotation_degrees);
  draw.flip = stream.uniform(0, 1) < ranges.flip_probability;
  draw.brightness = stream.uniform(1 - ranges.brightness, 1 + ranges.brightness);
  draw.contrast = stream.uniform(1 - ranges.contrast, 1 + ranges.contrast);
  draw.saturation = stream.uniform(1 - ranges.saturation, 1 + ranges.saturation);
  return draw;
}

int augment_source_size(int image_side) { return static_cast<int>(std::lround(image_side * 1.2)); }

cv::Mat warp_to_input(const cv::Mat& source, const AugmentDraw& draw, int output_side) {
  // Output pixel (u, v) -> offset from the output's centre in output widths,
  // d = (u + 0.5) / N - 0.5 (pixel centres, as cv::resize); scaled to the
  // crop, mirrored, rotated, moved to the crop's centre and back to pixel
  // indices (- 0.5). This is the output-to-source map (WARP_INVERSE_MAP).
  const double n = output_side, step = 1 / n, start = 0.5 / n - 0.5;
  const double angle = draw.rotation_degrees * kPi / 180, c = std::cos(angle), s = std::sin(angle);
  const double scale_x = (draw.flip ? -1 : 1) * draw.crop_width, scale_y = draw.crop_height;
  const cv::Matx23d output_to_source(
      c * scale_x * step, -s * scale_y * step, draw.centre_x - 0.5 + (c * scale_x - s * scale_y) * start,
      s * scale_x * step, c * scale_y * step, draw.centre_y - 0.5 + (s * scale_x + c * scale_y) * start);
  cv::Mat warped;
  cv::warpAffine(source, warped, output_to_source, cv::Size(output_side, output_side),
                 cv::INTER_LINEAR | cv::WARP_INVERSE_MAP, cv::BORDER_REFLECT_101);
  return warped;
}

void jitter_colours(cv::Mat& rgb, double brightness, double contrast, double saturation) {
  if (rgb.type() != CV_32FC3) throw Error("colour jitter needs a float RGB image; convert it first");
  rgb *= brightness;
  clamp_to_bytes(rgb);
  const cv::Scalar means = cv::mean(rgb);
  const double mean_grey = kGreyR * means[0] + kGreyG * means[1] + kGreyB * means[2];
  rgb.convertTo(rgb, CV_32F, contrast, (1 - contrast) * mean_grey);
  clamp_to_bytes(rgb);
  // x' = s x + (1 - s) g(x): one 3x3 colour matrix.
  const double rest = 1 - saturation;
  const cv::Matx33d towards_grey(saturation + rest * kGreyR, rest * kGreyG, rest * kGreyB,
                                 rest * kGreyR, saturation + rest * kGreyG, rest * kGreyB,
                                 rest * kGreyR, rest * kGreyG, saturation + rest * kGreyB);
  cv::Mat saturated;
  cv::transform(rgb, saturated, towards_grey);
  clamp_to_bytes(saturated);
  rgb = saturated;
}

cv::Mat augment_image(const cv::Mat& source, const AugmentDraw& draw, int output_side) {
  cv::Mat image;
  warp_to_input(source, draw, output_side).convertTo(image, CV_32F);
  jitter_colours(image, draw.brightness, draw.contrast, draw.saturation);
  return image;
}

}  // namespace catdog
