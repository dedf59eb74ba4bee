#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/objdetect.hpp>

namespace catdog {

// The frontal-face cascade used unless told otherwise: of Debian opencv-data's
// four, the one that found the subject's face on all 11 labelled photos and
// fired on the fewest pets (5%, against 22% for frontalface_default and 7% for
// alt2): bench/face_cascades.sh, BENCHMARKS.md "Face mode".
inline constexpr const char* kDefaultFaceCascade = "haarcascade_frontalface_alt.xml";

// A Haar cascade shipped by Debian's opencv-data, found in the usual install
// folders at run time. Error naming the package when it is missing.
std::filesystem::path find_face_cascade(const std::string& file_name = kDefaultFaceCascade);

// How hard to look. The defaults are the measured ones (BENCHMARKS.md): 3
// neighbours let in 60% more false faces on pets; 1/8 loses the small faces of
// messi5 and of the two-person photos.
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
