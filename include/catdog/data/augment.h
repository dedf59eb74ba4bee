#pragma once
#include <cstddef>
#include <cstdint>

#include <opencv2/core.hpp>

namespace catdog {

// The side of the square an augmented image of input side `image_side` is cut
// from: the whole decoded image resized to it (bilinear, like the plain path),
// 1.2 times the input (192 for 160) so that crops keep detail. The loader
// caches this size when it augments.
int augment_source_size(int image_side);

// Training-time augmentation: a random resized crop, a small rotation and a
// horizontal flip as one affine warp to the input size, then colour jitter.
// The defaults are the fine-tuning recipe's; all zero (area and aspect ranges
// at 1, no rotation, no flip, no jitter) is the identity.
struct Augmentation {
  double min_area = 0.60, max_area = 1.0;              // crop area, fraction of the source's
  double min_aspect = 3.0 / 4.0, max_aspect = 4.0 / 3.0;  // crop width / height, log-uniform
  double max_rotation_degrees = 15;                     // uniform in [-max, +max]
  double flip_probability = 0.5;                        // horizontal
  // Factors uniform in [1 - x, 1 + x].
  double brightness = 0.2, contrast = 0.2, saturation = 0.2;
};

// Throws Error when a range is empty or out of its domain.
void check_augmentation(const Augmentation& ranges);

// What one image gets in one epoch.
struct AugmentDraw {
  double crop_width = 0, crop_height = 0;  // source pixels
  double centre_x = 0, centre_y = 0;       // the crop's centre; the source spans [0, side]
  double rotation_degrees = 0;             // about the crop's centre
  bool flip = false;
  double brightness = 1, contrast = 1, saturation = 1;
};

// The draw for `sample` (its index in the loader's samples) in `epoch`,
// from a generator seeded by (seed, epoch, sample) alone: the same whatever
// thread asks, and in what order. Always the same number of draws, so
// narrowing one range leaves the others' values as they were.
AugmentDraw draw_augmentation(const Augmentation& ranges, int source_side, uint64_t seed, int epoch, size_t sample);

// The crop, rotation and flip of `draw` as one bilinear warp of `source`
// (8-bit RGB, source_side square) to output_side x output_side; pixels from
// outside the source are reflected (BORDER_REFLECT_101). The identity draw
// maps pixel centres exactly as cv::resize does.
cv::Mat warp_to_input(const cv::Mat& source, const AugmentDraw& draw, int output_side);

// In place on a CV_32FC3 RGB image with values in [0, 255], in this order,
// each step clamped to [0, 255]: x *= brightness; x = m + contrast (x - m)
// with m the image's mean grey; x = g + saturation (x - g) with g the
// pixel's grey (0.299 R + 0.587 G + 0.114 B).
void jitter_colours(cv::Mat& rgb, double brightness, double contrast, double saturation);

// warp_to_input, then jitter_colours: a CV_32FC3 RGB image in [0, 255] that
// write_input_planes turns into the model's input.
cv::Mat augment_image(const cv::Mat& source, const AugmentDraw& draw, int output_side);

}  // namespace catdog
