#include "catdog/report/painter.h"

namespace catdog {

double text_width(const std::string& text, double size, bool bold) {
  int baseline = 0;
  const double device_size = size * kSupersample;
  const cv::Size extent =
      cv::getTextSize(text, font(bold), hershey_scale(device_size), hershey_thickness(device_size, bold), &baseline);
  return static_cast<double>(extent.width) / kSupersample;
}

}  // namespace catdog
