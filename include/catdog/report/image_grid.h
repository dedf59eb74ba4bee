// Pictures of images: titled grids, fastai's top losses, a verdict banner.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace catdog {

struct GridCell {
  cv::Mat rgb;            // any size; drawn as a square thumbnail
  std::string title;
  cv::Scalar color;       // title colour (RGB)
};
// rows x cols thumbnails with a title above each (wrapped onto two lines at
// " / " or a space when it does not fit). Every cell is kGridCellWidth x
// kGridCellHeight, so the picture is exactly cols x rows cells; cells beyond
// rows x cols are not drawn, missing ones stay white.
inline constexpr int kGridCellWidth = 184;
inline constexpr int kGridCellHeight = 212;
void plot_image_grid(const std::vector<GridCell>& cells, int rows, int cols,
                     const std::filesystem::path& png);

// One classified image for plot_top_losses.
struct ScoredImage {
  cv::Mat rgb;                        // any size
  std::string name;                   // shown above it (the file name)
  int64_t truth = 0;                  // class index
  std::vector<double> probabilities;  // per class index
};
// fastai's plot_top_losses: the `count` worst mistakes among `images`
// (metrics.h's top_losses) as a grid (up to 5 a row),
// each titled with its name and "predicted p / true p". Returns how many were
// drawn; with no wrong prediction it writes nothing and returns 0.
size_t plot_top_losses(const std::vector<ScoredImage>& images, const std::vector<std::string>& class_names,
                       size_t count, const std::filesystem::path& png);

// `predict --annotate`: the image with `text` on a dark banner below it and,
// when given, a box drawn around `highlight` (the face in face mode).
cv::Mat draw_verdict(const cv::Mat& rgb, const std::string& text, const std::optional<cv::Rect>& highlight);

// `predict --explain`: the Grad-CAM `heat` map (gradcam.h) over what was
// classified, enlarged to at least kExplainedMinSide pixels on its shorter side
// (a face crop is a picture to look at, not a thumbnail), with `text` (the
// verdict) on a banner below it and a colour key: the jet scale from no to
// most evidence for `explained_class`.
inline constexpr int kExplainedMinSide = 320;
cv::Mat draw_explanation(const cv::Mat& rgb, const cv::Mat& heat, const std::string& text,
                         const std::string& explained_class);

}  // namespace catdog
