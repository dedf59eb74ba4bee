#pragma once
#include <filesystem>
#include <optional>

#include <opencv2/core.hpp>
#include <opencv2/objdetect.hpp>

namespace catdog {

// Debian's opencv-data frontal-face Haar cascade, found at run time
// ($CATDOG_FACE_CASCADE, then the usual install folders). Error naming the
// package when it is missing.
std::filesystem::path find_face_cascade();

class FaceFinder {
 public:
  explicit FaceFinder(const std::filesystem::path& cascade_xml);
  // The largest face in an RGB image, if any.
  std::optional<cv::Rect> largest_face(const cv::Mat& rgb);

 private:
  cv::CascadeClassifier cascade_;
};

// The face box grown by `margin` of its size on every side, clipped to the image.
cv::Rect add_margin(const cv::Rect& face, const cv::Size& image, double margin = 0.4);

}  // namespace catdog
