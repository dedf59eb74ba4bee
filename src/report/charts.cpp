#include "catdog/report/charts.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "catdog/base/error.h"
#include "catdog/data/dataset.h"
#include "catdog/data/preprocess.h"
#include "catdog/report/painter.h"

namespace catdog {
namespace {

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
  double widest_tick = 0;
  for (double tick : y_axis.ticks) {
    const double y = to_pixel({x_axis.low, tick}).y;
    painter.line({area.x, y}, {area.x + area.width, y}, kGridLine);
    painter.line({area.x - kTickLength, y}, {area.x, y}, kSpine);
    painter.text(y_axis.label(tick), {area.x - kTickLength - 4, y}, kTickSize, kInk, Align::End, Align::Center);
    widest_tick = std::max(widest_tick, painter.text_width(y_axis.label(tick), kTickSize));
  }
  for (double tick : x_axis.ticks) {
    const double x = to_pixel({tick, y_axis.low}).x;
    painter.line({x, area.y}, {x, area.y + area.height}, kGridLine);
    painter.line({x, area.y + area.height}, {x, area.y + area.height + kTickLength}, kSpine);
    painter.text(x_axis.label(tick), {x, area.y + area.height + kTickLength + 5}, kTickSize, kInk, Align::Center,
                 Align::Start);
  }
  painter.frame(area, kSpine);

  // Every point's pixel, and along each line a sample every few pixels (for the legend's place).
  std::vector<cv::Point2d> inked;
  for (const auto& s : series) {
    std::vector<cv::Point2d> pixels;
    for (const auto& p : s.points) pixels.push_back(to_pixel(p));
    painter.polyline(pixels, s.color, 1.8);
    for (const auto& p : pixels) painter.disc(p, 3.5, s.color);
    for (size_t i = 0; i < pixels.size(); ++i) {
      inked.push_back(pixels[i]);
      if (i == 0) continue;
      const int samples = static_cast<int>(cv::norm(pixels[i] - pixels[i - 1]) / 4);
      for (int k = 1; k < samples; ++k) inked.push_back(pixels[i - 1] + (pixels[i] - pixels[i - 1]) * k / samples);
    }
  }

  painter.text(title, {area.x + area.width / 2, area.y - 14}, 14, kInk, Align::Center, Align::End, true);
  painter.text(x_label, {area.x + area.width / 2, area.y + area.height + 42}, 12, kInk, Align::Center, Align::End);
  // Left of the widest tick label, never over it.
  constexpr double kLabelGap = 8, kLabelHalfHeight = 10;
  painter.vertical_text(y_label, {area.x - kTickLength - 4 - widest_tick - kLabelGap - kLabelHalfHeight,
                                  area.y + area.height / 2},
                        12, kInk);

  // Legend in a corner, on the right as the tutorial places it unless that
  // hides data (the last epochs' points are often there): the corner it
  // hides least of, the preferred one on a tie.
  constexpr double kRow = 20, kPad = 8, kSample = 26, kLabelSize = 11, kInset = 10, kClearance = 5;
  double widest = 0;
  for (const auto& s : series) widest = std::max(widest, painter.text_width(s.label, kLabelSize));
  const double box_width = kPad * 3 + kSample + widest;
  const double box_height = kPad * 2 + kRow * static_cast<double>(series.size());
  const double left = area.x + kInset, right = area.x + area.width - box_width - kInset;
  const double top = area.y + kInset, bottom = area.y + area.height - box_height - kInset;
  const bool upper_first = legend == LegendCorner::UpperRight;
  const cv::Point2d corners[] = {{right, upper_first ? top : bottom}, {right, upper_first ? bottom : top},
                                 {left, upper_first ? top : bottom}, {left, upper_first ? bottom : top}};
  cv::Rect2d box;
  size_t fewest_hidden = std::numeric_limits<size_t>::max();
  for (const auto& corner : corners) {
    const cv::Rect2d candidate(corner.x, corner.y, box_width, box_height);
    const cv::Rect2d cleared(candidate.x - kClearance, candidate.y - kClearance, candidate.width + 2 * kClearance,
                             candidate.height + 2 * kClearance);
    const auto hidden = static_cast<size_t>(
        std::count_if(inked.begin(), inked.end(), [&](const cv::Point2d& p) { return cleared.contains(p); }));
    if (hidden < fewest_hidden) box = candidate, fewest_hidden = hidden;
  }
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

void plot_confusion_matrix(const ConfusionMatrix& matrix, const std::vector<std::string>& class_names,
                           const std::filesystem::path& png) {
  const int n = matrix.num_classes();
  const auto name = [&](int i) { return class_name(class_names, i); };
  constexpr double kLabelSize = 12, kTop = 60, kRight = 120;
  // Up to 8 classes, 130 px cells; more share about 1,040 px (37 classes: 28 px cells).
  const double cell = n <= 8 ? 130 : std::max(24.0, 1040.0 / n);
  double widest = 0;
  for (int i = 0; i < n; ++i) widest = std::max(widest, text_width(name(i), kLabelSize));
  // Column labels turn a quarter when they would not fit under their cells.
  const bool rotated = widest > cell - 10;
  const double left = std::max(120.0, widest + 60), bottom = rotated ? widest + 60 : 80;
  Painter painter(static_cast<int>(left + n * cell + kRight), static_cast<int>(kTop + n * cell + bottom));
  const bool room_for_share = cell >= 60;
  const double count_size = room_for_share ? 18 : std::max(6.0, cell * 0.32);

  // Colours are each true class's share (rows sum to 1): a rare class reads as clearly as a common one.
  for (int truth = 0; truth < n; ++truth) {
    int64_t row_total = 0;
    for (int p = 0; p < n; ++p) row_total += matrix.count(truth, p);
    for (int predicted = 0; predicted < n; ++predicted) {
      const int64_t count = matrix.count(truth, predicted);
      const double shade = row_total > 0 ? static_cast<double>(count) / static_cast<double>(row_total) : 0;
      const cv::Rect2d area(left + predicted * cell, kTop + truth * cell, cell, cell);
      painter.fill(area, blues(shade));
      const cv::Scalar ink = shade > 0.5 ? kWhite : kInk;
      const cv::Point2d center(area.x + cell / 2, area.y + cell / 2);
      if (!room_for_share) {
        if (count > 0) painter.text(std::to_string(count), center, count_size, ink, Align::Center, Align::Center);
        continue;
      }
      painter.text(std::to_string(count), {center.x, center.y - 4}, count_size, ink, Align::Center, Align::End, true);
      if (row_total > 0) {
        char share[32];
        std::snprintf(share, sizeof share, "%.1f%%", 100.0 * shade);
        painter.text(share, {center.x, center.y + 10}, 11, ink, Align::Center, Align::Start);
      }
    }
  }
  const cv::Rect2d area(left, kTop, n * cell, n * cell);
  painter.frame(area, kSpine);
  for (int i = 0; i < n; ++i) {
    const double middle = cell * (i + 0.5);
    if (rotated)
      painter.vertical_text(name(i), {left + middle, kTop + n * cell + 10 + text_width(name(i), kLabelSize) / 2},
                            kLabelSize, kInk);
    else
      painter.text(name(i), {left + middle, kTop + n * cell + 10}, kLabelSize, kInk, Align::Center, Align::Start);
    painter.text(name(i), {left - 10, kTop + middle}, kLabelSize, kInk, Align::End, Align::Center);
  }
  painter.text("predicted", {left + n * cell / 2, kTop + n * cell + bottom - 25}, 12, kInk, Align::Center, Align::End);
  painter.vertical_text("true", {left - std::max(widest, 40.0) - 35, kTop + n * cell / 2}, 12, kInk);
  painter.text("Confusion matrix", {left + n * cell / 2, kTop - 22}, 14, kInk, Align::Center, Align::End, true);

  // Colour bar: share of the true class, 0 at the bottom, 100% at the top.
  const cv::Rect2d bar(left + n * cell + 25, kTop, 18, n * cell);
  constexpr int kSteps = 100;
  for (int i = 0; i < kSteps; ++i) {
    const double top = bar.y + bar.height * i / kSteps;
    painter.fill({bar.x, top, bar.width, bar.height / kSteps + 0.5}, blues(1.0 - (i + 0.5) / kSteps));
  }
  painter.frame(bar, kSpine);
  for (int percent = 0; percent <= 100; percent += 20) {
    const double y = bar.y + bar.height * (1 - percent / 100.0);
    painter.line({bar.x + bar.width, y}, {bar.x + bar.width + 4, y}, kSpine);
    painter.text(std::to_string(percent) + "%", {bar.x + bar.width + 8, y}, 10, kInk, Align::Start, Align::Center);
  }
  write_rgb_image(painter.result(), png);
}

}  // namespace catdog
