#include "catdog/infer/face.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "catdog/base/error.h"

namespace catdog {

std::filesystem::path find_face_cascade(const std::string& file_name) {
  for (const std::filesystem::path folder : {"/usr/share/opencv4/haarcascades", "/usr/share/opencv/haarcascades",
                                             "/usr/local/share/opencv4/haarcascades"})
    if (std::filesystem::is_regular_file(folder / file_name)) return folder / file_name;
  throw Error("OpenCV's face cascade " + file_name +
              " is missing: install Debian's opencv-data");
}

FaceFinder::FaceFinder(const std::filesystem::path& cascade_xml, FaceSearch search) : search_(search) {
  bool loaded = false;
  try {
    loaded = cascade_.load(cascade_xml.string());
  } catch (const cv::Exception&) {  // malformed XML throws instead of returning false
  }
  if (!loaded)
    throw Error("cannot read the face cascade " + cascade_xml.string() +
                ": reinstall opencv-data or point CATDOG_FACE_CASCADE at a valid Haar cascade XML");
}

std::vector<cv::Rect> FaceFinder::faces(const cv::Mat& rgb) {
  if (rgb.empty()) return {};
  cv::Mat gray;
  if (rgb.channels() == 1)
    gray = rgb.clone();
  else
    cv::cvtColor(rgb, gray, cv::COLOR_RGB2GRAY);
  // Detection is scale-invariant, so huge photos are searched at <= 1024 px:
  // same faces, a fraction of the time.
  constexpr int kLongestSide = 1024;
  // The cascades' own window is 20-24 px: nothing smaller can be found anyway,
  // and an image thinner than that once shrunk holds no face (a 1x5000 strip
  // would shrink to zero pixels, which OpenCV's resize refuses).
  constexpr int kWindow = 24;
  const double shrink = std::min(1.0, static_cast<double>(kLongestSide) / std::max(gray.cols, gray.rows));
  if (std::min(gray.cols, gray.rows) * shrink < kWindow) return {};
  if (shrink < 1.0) cv::resize(gray, gray, cv::Size(), shrink, shrink, cv::INTER_AREA);
  cv::equalizeHist(gray, gray);

  const int min_side =
      std::max(kWindow, static_cast<int>(std::lround(std::min(gray.cols, gray.rows) * search_.min_size_fraction)));
  std::vector<cv::Rect> found;
  cascade_.detectMultiScale(gray, found, 1.1, search_.min_neighbors, cv::CASCADE_SCALE_IMAGE,
                            cv::Size(min_side, min_side));
  const auto back = [&](int v) { return static_cast<int>(std::lround(v / shrink)); };
  for (auto& face : found)
    face = cv::Rect(back(face.x), back(face.y), back(face.width), back(face.height)) &
           cv::Rect(0, 0, rgb.cols, rgb.rows);
  return found;
}

std::optional<cv::Rect> FaceFinder::largest_face(const cv::Mat& rgb) {
  const auto found = faces(rgb);
  if (found.empty()) return std::nullopt;
  return *std::max_element(found.begin(), found.end(),
                           [](const cv::Rect& a, const cv::Rect& b) { return a.area() < b.area(); });
}

cv::Rect add_margin(const cv::Rect& face, const cv::Size& image, double margin) {
  const int grow_x = static_cast<int>(std::lround(face.width * margin));
  const int grow_y = static_cast<int>(std::lround(face.height * margin));
  const cv::Rect grown(face.x - grow_x, face.y - grow_y, face.width + 2 * grow_x, face.height + 2 * grow_y);
  return grown & cv::Rect(cv::Point(0, 0), image);
}

std::string describe_face(const cv::Rect& face) {
  return "face at " + std::to_string(face.x) + "," + std::to_string(face.y) + " " + std::to_string(face.width) +
         "x" + std::to_string(face.height);
}

}  // namespace catdog
