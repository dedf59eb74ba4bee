// The canvas every picture of catdog is drawn on (OpenCV only: no plotting
// library on the target): white background, matplotlib's colours, smooth
// text and lines.
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace catdog {

// Width in pixels of `text` in the pictures' font at capital height `size`.
double text_width(const std::string& text, double size, bool bold = false);

// Everything is drawn at twice the size and shrunk at the end: OpenCV's
// Hershey text and thin lines look far smoother that way.
inline constexpr int kSupersample = 2;

// matplotlib's defaults (RGB).
inline const cv::Scalar kWhite(255, 255, 255);
inline const cv::Scalar kInk(38, 38, 38);
inline const cv::Scalar kSpine(70, 70, 70);
inline const cv::Scalar kGridLine(232, 232, 232);
inline const cv::Scalar kLegendEdge(204, 204, 204);
inline const cv::Scalar kTabBlue(31, 119, 180);
inline const cv::Scalar kTabOrange(255, 127, 14);

enum class Align { Start, Center, End };

inline int font(bool bold) { return bold ? cv::FONT_HERSHEY_DUPLEX : cv::FONT_HERSHEY_SIMPLEX; }
// A capital of FONT_HERSHEY_SIMPLEX at scale 1 is 21 pixels tall.
inline double hershey_scale(double capital_height) { return capital_height / 21.0; }
inline int hershey_thickness(double capital_height, bool bold) {
  return std::max(1, static_cast<int>(std::lround(capital_height / (bold ? 9.0 : 11.0))));
}

// A white RGB canvas in logical pixels, `scale` device pixels each (fonts and
// lines grow with it); fractional coordinates allowed.
class Painter {
 public:
  Painter(int width, int height, double scale = 1)
      : scale_(scale),
        canvas_(static_cast<int>(std::lround(height * scale)) * kSupersample,
                static_cast<int>(std::lround(width * scale)) * kSupersample, CV_8UC3, kWhite) {}

  void line(cv::Point2d from, cv::Point2d to, const cv::Scalar& color, double width = 1) {
    cv::line(canvas_, device(from), device(to), color, thickness(width), cv::LINE_AA, kShift);
  }

  void polyline(const std::vector<cv::Point2d>& points, const cv::Scalar& color, double width) {
    for (size_t i = 1; i < points.size(); ++i) line(points[i - 1], points[i], color, width);
  }

  void disc(cv::Point2d center, double radius, const cv::Scalar& color) {
    cv::circle(canvas_, device(center), static_cast<int>(std::lround(radius * scale_ * kSupersample * kOne)), color,
               cv::FILLED, cv::LINE_AA, kShift);
  }

  void fill(const cv::Rect2d& box, const cv::Scalar& color) {
    cv::rectangle(canvas_, scaled(box), color, cv::FILLED);
  }

  void frame(const cv::Rect2d& box, const cv::Scalar& color, double width = 1) {
    const cv::Point2d corners[] = {box.tl(), {box.x + box.width, box.y}, box.br(), {box.x, box.y + box.height}};
    for (int i = 0; i < 4; ++i) line(corners[i], corners[(i + 1) % 4], color, width);
  }

  // `size` is the height of a capital letter in logical pixels.
  double text_width(const std::string& text, double size, bool bold = false) const {
    return catdog::text_width(text, size * scale_, bold) / scale_;
  }

  void text(const std::string& text, cv::Point2d anchor, double size, const cv::Scalar& color,
            Align horizontal = Align::Start, Align vertical = Align::End, bool bold = false) {
    const double width = text_width(text, size, bold);
    const double x = anchor.x - (horizontal == Align::Center ? width / 2 : horizontal == Align::End ? width : 0);
    // Vertical alignment on the capital height: Start = top, End = baseline.
    const double y = anchor.y + (vertical == Align::Start ? size : vertical == Align::Center ? size / 2 : 0);
    cv::putText(canvas_, text, device_int({x, y}), font(bold), font_scale(size), color,
                text_thickness(size, bold), cv::LINE_AA);
  }

  // Text turned a quarter left (read bottom to top), centred on `center`.
  void vertical_text(const std::string& text, cv::Point2d center, double size, const cv::Scalar& color) {
    const int width = static_cast<int>(std::ceil(text_width(text, size) * scale_ * kSupersample)) + 4;
    const int height = static_cast<int>(std::ceil(size * scale_ * 1.6 * kSupersample)) + 4;
    cv::Mat ink(height, width, CV_8UC1, cv::Scalar(0));
    cv::putText(ink, text, {2, static_cast<int>(std::lround(size * scale_ * 1.2 * kSupersample))}, font(false),
                font_scale(size), cv::Scalar(255), text_thickness(size, false), cv::LINE_AA);
    cv::rotate(ink, ink, cv::ROTATE_90_COUNTERCLOCKWISE);
    const cv::Point top_left = device_int(center) - cv::Point(ink.cols / 2, ink.rows / 2);
    blend_mask(ink, top_left, color);
  }

  // The finished picture at its logical size.
  cv::Mat result() const {
    cv::Mat small;
    cv::resize(canvas_, small, cv::Size(canvas_.cols / kSupersample, canvas_.rows / kSupersample), 0, 0,
               cv::INTER_AREA);
    return small;
  }

 private:
  static constexpr int kShift = 4;  // fractional bits of cv::line/circle coordinates
  static constexpr double kOne = 1 << kShift;

  cv::Point device(cv::Point2d p) const {
    return {static_cast<int>(std::lround(p.x * scale_ * kSupersample * kOne)),
            static_cast<int>(std::lround(p.y * scale_ * kSupersample * kOne))};
  }
  cv::Point device_int(cv::Point2d p) const {
    return {static_cast<int>(std::lround(p.x * scale_ * kSupersample)),
            static_cast<int>(std::lround(p.y * scale_ * kSupersample))};
  }
  cv::Rect scaled(const cv::Rect2d& box) const {
    const cv::Point tl = device_int(box.tl()), br = device_int(box.br());
    return {tl, br};
  }
  int thickness(double width) const {
    return std::max(1, static_cast<int>(std::lround(width * scale_ * kSupersample)));
  }
  double font_scale(double size) const { return hershey_scale(size * scale_ * kSupersample); }
  int text_thickness(double size, bool bold) const { return hershey_thickness(size * scale_ * kSupersample, bold); }

  void blend_mask(const cv::Mat& mask, cv::Point top_left, const cv::Scalar& color) {
    const cv::Rect wanted(top_left, mask.size());
    const cv::Rect visible = wanted & cv::Rect(0, 0, canvas_.cols, canvas_.rows);
    for (int y = visible.y; y < visible.y + visible.height; ++y)
      for (int x = visible.x; x < visible.x + visible.width; ++x) {
        const double alpha = mask.at<uchar>(y - wanted.y, x - wanted.x) / 255.0;
        auto& pixel = canvas_.at<cv::Vec3b>(y, x);
        for (int c = 0; c < 3; ++c)
          pixel[c] = cv::saturate_cast<uchar>(pixel[c] * (1 - alpha) + color[c] * alpha);
      }
  }

  double scale_;
  cv::Mat canvas_;
};

}  // namespace catdog
