#include "catdog/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "catdog/atomic_file.h"
#include "catdog/error.h"

namespace catdog {
namespace {

// Everything is drawn at twice the size and shrunk at the end: OpenCV's
// Hershey text and thin lines look far smoother that way.
constexpr int kSupersample = 2;

// matplotlib's defaults (RGB).
const cv::Scalar kWhite(255, 255, 255);
const cv::Scalar kInk(38, 38, 38);
const cv::Scalar kSpine(70, 70, 70);
const cv::Scalar kGridLine(232, 232, 232);
const cv::Scalar kLegendEdge(204, 204, 204);
const cv::Scalar kTabBlue(31, 119, 180);
const cv::Scalar kTabOrange(255, 127, 14);

enum class Align { Start, Center, End };

int font(bool bold) { return bold ? cv::FONT_HERSHEY_DUPLEX : cv::FONT_HERSHEY_SIMPLEX; }
// A capital of FONT_HERSHEY_SIMPLEX at scale 1 is 21 pixels tall.
double hershey_scale(double capital_height) { return capital_height / 21.0; }
int hershey_thickness(double capital_height, bool bold) {
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

// A value axis: its limits, where the ticks go and how they are written.
struct Axis {
  double low = 0, high = 1;
  std::vector<double> ticks;
  int decimals = 0;

  double fraction(double value) const { return high > low ? (value - low) / (high - low) : 0.5; }
  std::string label(double value) const {
    char text[32];
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
    return text;
  }
};

// matplotlib-like automatic limits: the data range plus 5% on each side,
// ticks at 1, 2, 2.5 or 5 times a power of ten inside it (no 2.5 between
// whole numbers: epochs 3, 6, 9 read oddly), at most about `max_ticks`.
Axis auto_axis(double data_min, double data_max, bool integer_ticks, int max_ticks) {
  if (!(data_min <= data_max)) data_min = 0, data_max = 1;  // no finite data
  double span = data_max - data_min;
  if (span <= 0) {
    const double half = integer_ticks ? 0.5 : std::max(0.05, std::abs(data_max) * 0.05);
    data_min -= half, data_max += half, span = 2 * half;
  }
  Axis axis;
  axis.low = data_min - 0.05 * span;
  axis.high = data_max + 0.05 * span;

  const double rough = (axis.high - axis.low) / std::max(1, max_ticks - 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(rough)));
  double step = 10 * magnitude;
  for (double factor : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (integer_ticks && factor == 2.5 && magnitude < 10) continue;
    if (factor * magnitude >= rough) {
      step = factor * magnitude;
      break;
    }
  }
  if (integer_ticks) step = std::max(1.0, std::round(step));
  for (double tick = std::ceil(axis.low / step - 1e-9) * step; tick <= axis.high + 1e-9 * step; tick += step)
    axis.ticks.push_back(std::abs(tick) < 1e-12 * step ? 0.0 : tick);
  // Enough decimals to tell neighbouring ticks apart (2.5 steps need one more).
  const double step_magnitude = std::pow(10.0, std::floor(std::log10(step) + 1e-9));
  const double digits = -std::floor(std::log10(step) + 1e-9);
  axis.decimals =
      std::max(0, static_cast<int>(digits) + (std::fmod(step / step_magnitude, 1.0) > 1e-9 ? 1 : 0));
  return axis;
}

// Where each tick's label goes, in the axis' frame (see AxisTick).
std::vector<AxisTick> place_labels(const Axis& axis, double length, double font_size, bool horizontal) {
  std::vector<AxisTick> placed;
  for (double value : axis.ticks) {
    const std::string label = axis.label(value);
    const double width = text_width(label, font_size), along = axis.fraction(value) * length;
    placed.push_back({value, label,
                      horizontal ? cv::Rect2d(along - width / 2, 0, width, font_size)
                                 : cv::Rect2d(-width, along - font_size / 2, width, font_size)});
  }
  return placed;
}

bool labels_apart(const std::vector<AxisTick>& ticks, double font_size, bool horizontal) {
  // Neighbours need a gap: a letter's width side by side, half a line stacked.
  const double gap = horizontal ? font_size : font_size / 2;
  for (size_t i = 1; i < ticks.size(); ++i) {
    const cv::Rect2d &a = ticks[i - 1].label_box, &b = ticks[i].label_box;
    if (horizontal ? a.x + a.width + gap > b.x : a.y + a.height + gap > b.y) return false;
  }
  return true;
}

// The axis with the most ticks (up to `max_ticks`) whose labels stay apart.
Axis fit_axis(double data_min, double data_max, bool integer_ticks, double length, double font_size,
              bool horizontal, int max_ticks) {
  Axis axis;
  for (int wanted = max_ticks; wanted >= 2; --wanted) {
    axis = auto_axis(data_min, data_max, integer_ticks, wanted);
    if (labels_apart(place_labels(axis, length, font_size, horizontal), font_size, horizontal)) break;
  }
  return axis;
}

// The curves' tick labels: this size at the reference width (kCurvesWidth).
constexpr double kTickSize = 11;
constexpr int kCurvesPanelWidth = kCurvesWidth / 2, kCurvesHeight = kCurvesWidth * 5 / 12;
constexpr int kMaxXTicks = 10, kMaxYTicks = 7;

struct Series {
  std::string label;
  cv::Scalar color;
  std::vector<cv::Point2d> points;  // data coordinates; non-finite values are left out
};

enum class LegendCorner { UpperRight, LowerRight };

// One panel of the training curves: frame, grid, ticks, labels, lines, legend.
void draw_line_chart(Painter& painter, const cv::Rect2d& area, const std::string& title,
                     const std::string& x_label, const std::string& y_label, const std::vector<Series>& series,
                     LegendCorner legend) {
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min, y_min = x_min, y_max = -x_min;
  for (const auto& s : series)
    for (const auto& p : s.points) {
      x_min = std::min(x_min, p.x), x_max = std::max(x_max, p.x);
      y_min = std::min(y_min, p.y), y_max = std::max(y_max, p.y);
    }
  if (!(x_min <= x_max)) x_min = 1, x_max = 1;
  const Axis x_axis = fit_axis(x_min, x_max, true, area.width, kTickSize, true, kMaxXTicks);
  const Axis y_axis = fit_axis(y_min, y_max, false, area.height, kTickSize, false, kMaxYTicks);
  const auto to_pixel = [&](cv::Point2d p) {
    return cv::Point2d(area.x + x_axis.fraction(p.x) * area.width,
                       area.y + area.height - y_axis.fraction(p.y) * area.height);
  };

  constexpr double kTickLength = 5;
  for (double tick : y_axis.ticks) {
    const double y = to_pixel({x_axis.low, tick}).y;
    painter.line({area.x, y}, {area.x + area.width, y}, kGridLine);
    painter.line({area.x - kTickLength, y}, {area.x, y}, kSpine);
    painter.text(y_axis.label(tick), {area.x - kTickLength - 4, y}, kTickSize, kInk, Align::End, Align::Center);
  }
  for (double tick : x_axis.ticks) {
    const double x = to_pixel({tick, y_axis.low}).x;
    painter.line({x, area.y}, {x, area.y + area.height}, kGridLine);
    painter.line({x, area.y + area.height}, {x, area.y + area.height + kTickLength}, kSpine);
    painter.text(x_axis.label(tick), {x, area.y + area.height + kTickLength + 5}, kTickSize, kInk, Align::Center,
                 Align::Start);
  }
  painter.frame(area, kSpine);

  for (const auto& s : series) {
    std::vector<cv::Point2d> pixels;
    for (const auto& p : s.points) pixels.push_back(to_pixel(p));
    painter.polyline(pixels, s.color, 1.8);
    for (const auto& p : pixels) painter.disc(p, 3.5, s.color);
  }

  painter.text(title, {area.x + area.width / 2, area.y - 14}, 14, kInk, Align::Center, Align::End, true);
  painter.text(x_label, {area.x + area.width / 2, area.y + area.height + 42}, 12, kInk, Align::Center, Align::End);
  painter.vertical_text(y_label, {area.x - 58, area.y + area.height / 2}, 12, kInk);

  // Legend in a corner on the right, as the tutorial places it.
  constexpr double kRow = 20, kPad = 8, kSample = 26, kLabelSize = 11;
  double widest = 0;
  for (const auto& s : series) widest = std::max(widest, painter.text_width(s.label, kLabelSize));
  const double box_width = kPad * 3 + kSample + widest;
  const double box_height = kPad * 2 + kRow * static_cast<double>(series.size());
  const cv::Rect2d box(area.x + area.width - box_width - 10,
                       legend == LegendCorner::UpperRight ? area.y + 10 : area.y + area.height - box_height - 10, box_width, box_height);
  painter.fill(box, kWhite);
  painter.frame(box, kLegendEdge);
  for (size_t i = 0; i < series.size(); ++i) {
    const double y = box.y + kPad + kRow * (static_cast<double>(i) + 0.5);
    painter.line({box.x + kPad, y}, {box.x + kPad + kSample, y}, series[i].color, 1.8);
    painter.disc({box.x + kPad + kSample / 2, y}, 3.5, series[i].color);
    painter.text(series[i].label, {box.x + kPad * 2 + kSample, y}, kLabelSize, kInk, Align::Start, Align::Center);
  }
}

Series history_series(const History& history, const std::string& label, const cv::Scalar& color,
                      double EpochRecord::*field) {
  Series series{label, color, {}};
  for (const auto& record : history)
    if (std::isfinite(record.*field)) series.points.emplace_back(record.epoch, record.*field);
  return series;
}

cv::Mat as_rgb(const cv::Mat& image) {
  if (image.empty()) return image;
  cv::Mat rgb;
  if (image.channels() == 1)
    cv::cvtColor(image, rgb, cv::COLOR_GRAY2RGB);
  else if (image.channels() == 4)
    cv::cvtColor(image, rgb, cv::COLOR_RGBA2RGB);
  else
    rgb = image;
  if (rgb.depth() != CV_8U) rgb.convertTo(rgb, CV_8U);
  return rgb;
}

// A title's lines at a size that fits `width`: one line when possible, else
// split at " / " (or the middle space) into two.
std::vector<std::string> fit_title(const Painter& painter, const std::string& title, double width, double& size) {
  size = 11;
  if (painter.text_width(title, size) <= width) return {title};
  std::vector<std::string> lines{title};
  size_t cut = title.find(" / ");
  size_t skip = 3;
  if (cut == std::string::npos) {
    cut = title.rfind(' ', title.size() / 2);
    skip = 1;
  }
  if (cut != std::string::npos) lines = {title.substr(0, cut), title.substr(cut + skip)};
  double widest = 0;
  for (const auto& line : lines) widest = std::max(widest, painter.text_width(line, size));
  if (widest > width) size *= width / widest;
  return lines;
}

// matplotlib's "Blues" colour map, t in [0, 1] (RGB).
cv::Scalar blues(double t) {
  static const double anchors[][3] = {{247, 251, 255}, {222, 235, 247}, {198, 219, 239},
                                      {158, 202, 225}, {107, 174, 214}, {66, 146, 198},
                                      {33, 113, 181},  {8, 81, 156},    {8, 48, 107}};
  constexpr int kLast = 8;
  t = std::clamp(t, 0.0, 1.0) * kLast;
  const int i = std::min(static_cast<int>(t), kLast - 1);
  const double f = t - i;
  return {anchors[i][0] + f * (anchors[i + 1][0] - anchors[i][0]),
          anchors[i][1] + f * (anchors[i + 1][1] - anchors[i][1]),
          anchors[i][2] + f * (anchors[i + 1][2] - anchors[i][2])};
}

cv::Rect2d curves_panel(int index) {
  return {index * kCurvesPanelWidth + 85.0, 50.0, kCurvesPanelWidth - 85.0 - 25.0, kCurvesHeight - 50.0 - 70.0};
}

}  // namespace

double text_width(const std::string& text, double size, bool bold) {
  int baseline = 0;
  const double device_size = size * kSupersample;
  const cv::Size extent =
      cv::getTextSize(text, font(bold), hershey_scale(device_size), hershey_thickness(device_size, bold), &baseline);
  return static_cast<double>(extent.width) / kSupersample;
}

std::vector<AxisTick> curves_x_ticks(int epochs, int width) {
  const double scale = static_cast<double>(width) / kCurvesWidth;
  const double length = curves_panel(0).width * scale, font_size = kTickSize * scale;
  const double last = std::max(1, epochs);
  return place_labels(fit_axis(1, last, true, length, font_size, true, kMaxXTicks), length, font_size, true);
}

std::vector<AxisTick> curves_y_ticks(double low, double high, int width) {
  const double scale = static_cast<double>(width) / kCurvesWidth;
  const double length = curves_panel(0).height * scale, font_size = kTickSize * scale;
  return place_labels(fit_axis(low, high, false, length, font_size, false, kMaxYTicks), length, font_size, false);
}

void plot_training_curves(const History& history, const std::filesystem::path& png, int width) {
  if (width < kCurvesWidth / 4) throw Error("a training-curves picture needs a width of at least " +
                                            std::to_string(kCurvesWidth / 4) + " pixels");
  Painter painter(kCurvesWidth, kCurvesHeight, static_cast<double>(width) / kCurvesWidth);
  const auto panel = curves_panel;
  draw_line_chart(painter, panel(0), "Training and Validation Accuracy", "epoch", "Accuracy",
                  {history_series(history, "Training Accuracy", kTabBlue, &EpochRecord::accuracy),
                   history_series(history, "Validation Accuracy", kTabOrange, &EpochRecord::val_accuracy)},
                  LegendCorner::LowerRight);
  draw_line_chart(painter, panel(1), "Training and Validation Loss", "epoch", "Cross Entropy",
                  {history_series(history, "Training Loss", kTabBlue, &EpochRecord::loss),
                   history_series(history, "Validation Loss", kTabOrange, &EpochRecord::val_loss)},
                  LegendCorner::UpperRight);
  write_rgb_image(painter.result(), png);
}

void plot_image_grid(const std::vector<GridCell>& cells, int rows, int cols, const std::filesystem::path& png) {
  if (rows < 1 || cols < 1) throw Error("an image grid needs at least one row and one column");
  constexpr int kThumb = 160, kTitleHeight = 42;
  Painter painter(cols * kGridCellWidth, rows * kGridCellHeight);
  const size_t shown = std::min(cells.size(), static_cast<size_t>(rows) * static_cast<size_t>(cols));
  const auto thumb_origin = [&](size_t i) {
    const int row = static_cast<int>(i) / cols, col = static_cast<int>(i) % cols;
    return cv::Point(col * kGridCellWidth + (kGridCellWidth - kThumb) / 2, row * kGridCellHeight + kTitleHeight);
  };
  for (size_t i = 0; i < shown; ++i) {
    const cv::Point origin = thumb_origin(i);
    double size = 0;
    const auto lines = fit_title(painter, cells[i].title, kGridCellWidth - 8, size);
    const double line_height = size * 1.6;
    double baseline = origin.y - 7 - line_height * static_cast<double>(lines.size() - 1);
    for (const auto& line : lines) {
      painter.text(line, {origin.x + kThumb / 2.0, baseline}, size, cells[i].color, Align::Center, Align::End);
      baseline += line_height;
    }
  }
  cv::Mat picture = painter.result();
  // Thumbnails go in at the final resolution: resizing them once keeps them sharp.
  for (size_t i = 0; i < shown; ++i) {
    const cv::Mat rgb = as_rgb(cells[i].rgb);
    if (rgb.empty()) continue;
    cv::Mat thumb;
    cv::resize(rgb, thumb, {kThumb, kThumb}, 0, 0,
               rgb.cols > kThumb || rgb.rows > kThumb ? cv::INTER_AREA : cv::INTER_LINEAR);
    thumb.copyTo(picture(cv::Rect(thumb_origin(i), cv::Size(kThumb, kThumb))));
  }
  write_rgb_image(picture, png);
}

std::vector<size_t> top_losses(const std::vector<ScoredImage>& images, size_t count) {
  const auto truth_probability = [&](size_t i) {
    const auto& image = images[i];
    return image.truth >= 0 && static_cast<size_t>(image.truth) < image.probabilities.size()
               ? image.probabilities[static_cast<size_t>(image.truth)]
               : 0.0;
  };
  std::vector<size_t> wrong;
  for (size_t i = 0; i < images.size(); ++i) {
    const auto& p = images[i].probabilities;
    if (p.empty()) continue;
    const auto predicted = static_cast<int64_t>(std::max_element(p.begin(), p.end()) - p.begin());
    if (predicted != images[i].truth) wrong.push_back(i);
  }
  // Least probability on the truth = largest loss; ties keep the input order.
  std::stable_sort(wrong.begin(), wrong.end(),
                   [&](size_t a, size_t b) { return truth_probability(a) < truth_probability(b); });
  if (wrong.size() > count) wrong.resize(count);
  return wrong;
}

size_t plot_top_losses(const std::vector<ScoredImage>& images, const std::vector<std::string>& class_names,
                       size_t count, const std::filesystem::path& png) {
  const auto worst = top_losses(images, count);
  if (worst.empty()) return 0;
  const auto name = [&](size_t i) { return i < class_names.size() ? class_names[i] : std::to_string(i); };
  const cv::Scalar kWrong(214, 39, 40);  // matplotlib's red (RGB)
  std::vector<GridCell> cells;
  for (size_t i : worst) {
    const auto& image = images[i];
    const auto& p = image.probabilities;
    const auto predicted = static_cast<size_t>(std::max_element(p.begin(), p.end()) - p.begin());
    const auto truth = static_cast<size_t>(image.truth);
    char verdict[160];
    std::snprintf(verdict, sizeof verdict, "%s %.2f, true %s %.2f", name(predicted).c_str(), p[predicted],
                  name(truth).c_str(), truth < p.size() ? p[truth] : 0.0);
    // fit_title breaks at the first " / ": the name on one line, the verdict below.
    cells.push_back({image.rgb, image.name + " / " + verdict, kWrong});
  }
  const int cols = static_cast<int>(std::min<size_t>(worst.size(), 5));
  const int rows = static_cast<int>((worst.size() + 4) / 5);
  plot_image_grid(cells, rows, cols, png);
  return worst.size();
}

void plot_confusion_matrix(const ConfusionMatrix& matrix, const std::vector<std::string>& class_names,
                           const std::filesystem::path& png) {
  const int n = matrix.num_classes();
  constexpr double kCell = 130, kLeft = 120, kTop = 60, kRight = 120, kBottom = 80;
  Painter painter(static_cast<int>(kLeft + n * kCell + kRight), static_cast<int>(kTop + n * kCell + kBottom));
  const auto name = [&](int i) {
    return i < static_cast<int>(class_names.size()) ? class_names[static_cast<size_t>(i)] : std::to_string(i);
  };
  int64_t largest = 1;
  for (int t = 0; t < n; ++t)
    for (int p = 0; p < n; ++p) largest = std::max(largest, matrix.count(t, p));

  for (int truth = 0; truth < n; ++truth) {
    int64_t row_total = 0;
    for (int p = 0; p < n; ++p) row_total += matrix.count(truth, p);
    for (int predicted = 0; predicted < n; ++predicted) {
      const int64_t count = matrix.count(truth, predicted);
      const double shade = static_cast<double>(count) / static_cast<double>(largest);
      const cv::Rect2d cell(kLeft + predicted * kCell, kTop + truth * kCell, kCell, kCell);
      painter.fill(cell, blues(shade));
      const cv::Scalar ink = shade > 0.5 ? kWhite : kInk;
      const cv::Point2d center(cell.x + kCell / 2, cell.y + kCell / 2);
      painter.text(std::to_string(count), {center.x, center.y - 4}, 18, ink, Align::Center, Align::End, true);
      if (row_total > 0) {
        char share[32];
        std::snprintf(share, sizeof share, "%.1f%%", 100.0 * static_cast<double>(count) / static_cast<double>(row_total));
        painter.text(share, {center.x, center.y + 10}, 11, ink, Align::Center, Align::Start);
      }
    }
  }
  const cv::Rect2d area(kLeft, kTop, n * kCell, n * kCell);
  painter.frame(area, kSpine);
  for (int i = 0; i < n; ++i) {
    const double middle = kCell * (i + 0.5);
    painter.text(name(i), {kLeft + middle, kTop + n * kCell + 10}, 12, kInk, Align::Center, Align::Start);
    painter.text(name(i), {kLeft - 10, kTop + middle}, 12, kInk, Align::End, Align::Center);
  }
  painter.text("predicted", {kLeft + n * kCell / 2, kTop + n * kCell + 55}, 12, kInk, Align::Center, Align::End);
  painter.vertical_text("true", {kLeft - 75, kTop + n * kCell / 2}, 12, kInk);
  painter.text("Confusion matrix", {kLeft + n * kCell / 2, kTop - 22}, 14, kInk, Align::Center, Align::End, true);

  // Colour bar: 0 at the bottom, the largest count at the top.
  const cv::Rect2d bar(kLeft + n * kCell + 25, kTop, 18, n * kCell);
  constexpr int kSteps = 100;
  for (int i = 0; i < kSteps; ++i) {
    const double top = bar.y + bar.height * i / kSteps;
    painter.fill({bar.x, top, bar.width, bar.height / kSteps + 0.5}, blues(1.0 - (i + 0.5) / kSteps));
  }
  painter.frame(bar, kSpine);
  Axis scale = auto_axis(0, static_cast<double>(largest), true, 6);
  for (double tick : scale.ticks) {
    if (tick < 0 || tick > static_cast<double>(largest)) continue;
    const double y = bar.y + bar.height * (1 - tick / static_cast<double>(largest));
    painter.line({bar.x + bar.width, y}, {bar.x + bar.width + 4, y}, kSpine);
    painter.text(scale.label(tick), {bar.x + bar.width + 8, y}, 10, kInk, Align::Start, Align::Center);
  }
  write_rgb_image(painter.result(), png);
}

cv::Mat draw_verdict(const cv::Mat& rgb, const std::string& text, const std::optional<cv::Rect>& highlight) {
  const cv::Mat image = as_rgb(rgb);
  if (image.empty()) throw Error("cannot annotate an empty image");
  const int banner_height = std::max(36, static_cast<int>(std::lround(image.cols * 0.07)));
  Painter banner(image.cols, banner_height);
  banner.fill({0, 0, static_cast<double>(image.cols), static_cast<double>(banner_height)}, kInk);
  double size = banner_height * 0.38;
  const double room = image.cols - 0.6 * banner_height;
  if (const double width = banner.text_width(text, size, true); width > room) size *= room / width;
  banner.text(text, {image.cols / 2.0, banner_height / 2.0}, size, kWhite, Align::Center, Align::Center, true);

  cv::Mat annotated(image.rows + banner_height, image.cols, CV_8UC3);
  image.copyTo(annotated(cv::Rect(0, 0, image.cols, image.rows)));
  banner.result().copyTo(annotated(cv::Rect(0, image.rows, image.cols, banner_height)));
  if (highlight) {
    const int line = std::max(2, std::min(image.cols, image.rows) / 150);
    cv::rectangle(annotated, *highlight & cv::Rect(0, 0, image.cols, image.rows), cv::Scalar(44, 160, 44), line,
                  cv::LINE_AA);
  }
  return annotated;
}

void write_rgb_image(const cv::Mat& rgb, const std::filesystem::path& file) {
  if (rgb.empty()) throw Error("cannot write " + file.string() + ": the image is empty");
  cv::Mat bgr;
  if (rgb.channels() == 3)
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  else
    bgr = rgb;
  // Encoded in memory first, then written all or nothing.
  std::vector<uchar> bytes;
  bool encoded = false;
  std::string reason = "use a .png or .jpg name";
  try {
    encoded = cv::imencode(file.extension().string(), bgr, bytes);
  } catch (const cv::Exception& e) {
    reason = "OpenCV says: " + e.err + " (use a .png or .jpg name)";
  }
  if (!encoded) throw Error("cannot write image " + file.string() + ": " + reason);
  std::error_code ignored;  // a missing parent shows up as a failed write below
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ignored);
  write_file_atomically(file, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace catdog
