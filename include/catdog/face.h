#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/objdetect.hpp>

namespace catdog {

// The frontal-face cascade used unless told otherwise: of Debian opencv-data's
// four, the one that found the subject's face most often without firing on
// pets (bench/face_cascades.sh, BENCHMARKS.md "Face mode").
inline constexpr const char* kDefaultFaceCascade = "haarcascade_frontalface_default.xml";

// A Haar cascade shipped by Debian's opencv-data, found at run time
// ($CATDOG_FACE_CASCADE, then the usual install folders). Error naming the
// package when it is missing.
std::filesystem::path find_face_cascade(const std::string& file_name = kDefaultFaceCascade);

// How hard to look. The defaults are the measured ones (BENCHMARKS.md).
struct FaceSearch {
  int min_neighbors = 5;                // overlapping detections a face needs
  double min_size_fraction = 1.0 / 12;  // smaller faces (of the shorter side) are background people
};

class FaceFinder {
 public:
  explicit FaceFinder(const std::filesystem::path& cascade_xml, FaceSearch search = {});
  // Every face found in an RGB image, in its coordinates.
  std::vector<cv::Rect> faces(const cv::Mat& rgb);
  // The largest of them, if any.
  std::optional<cv::Rect> largest_face(const cv::Mat& rgb);

 private:
  cv::CascadeClassifier cascade_;
  FaceSearch search_;
};

// The face box grown by `margin` of its size on every side, clipped to the image.
cv::Rect add_margin(const cv::Rect& face, const cv::Size& image, double margin = 0.4);

// "face at 120,40 90x90": where the classified crop came from, for messages.
std::string describe_face(const cv::Rect& face);

}  // namespace catdog
