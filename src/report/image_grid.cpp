#include "catdog/report/image_grid.h"

#include <algorithm>
#include <cmath>


#include "catdog/base/error.h"
#include "catdog/data/dataset.h"
#include "catdog/data/preprocess.h"
#include "catdog/infer/gradcam.h"
#include "catdog/infer/metrics.h"
#include "catdog/report/painter.h"

namespace catdog {
namespace {

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

}  // namespace

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

size_t plot_top_losses(const std::vector<ScoredImage>& images, const std::vector<std::string>& class_names,
                       size_t count, const std::filesystem::path& png) {
  std::vector<std::vector<double>> probabilities;
  std::vector<int64_t> truths;
  for (const auto& image : images) {
    probabilities.push_back(image.probabilities);
    truths.push_back(image.truth);
  }
  const auto worst = top_losses(probabilities, truths, count);
  if (worst.empty()) return 0;
  const auto name = [&](size_t i) { return class_name(class_names, static_cast<int64_t>(i)); };
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

cv::Mat draw_explanation(const cv::Mat& rgb, const cv::Mat& heat, const std::string& text,
                         const std::string& explained_class) {
  cv::Mat image = as_rgb(rgb);
  if (image.empty()) throw Error("cannot explain an empty image");
  const int shorter = std::min(image.cols, image.rows);
  if (shorter < kExplainedMinSide) {
    const double scale = static_cast<double>(kExplainedMinSide) / shorter;
    cv::resize(image, image, cv::Size(), scale, scale, cv::INTER_CUBIC);
  }
  const cv::Mat explained = draw_verdict(gradcam_overlay(image, heat), text, std::nullopt);

  // The key: "evidence for CLASS:", then the colours from none to most.
  const int key_height = std::max(28, static_cast<int>(std::lround(explained.cols * 0.05)));
  const double size = key_height * 0.32;
  Painter key(explained.cols, key_height);
  const std::string label = "evidence for " + explained_class + ":  none";
  const double margin = key_height * 0.4;
  key.text(label, {margin, key_height / 2.0}, size, kInk, Align::Start, Align::Center);
  const double most_width = key.text_width("most", size);
  const double bar_left = margin + key.text_width(label, size) + margin * 0.6;
  const double bar_right = explained.cols - margin - most_width - margin * 0.6;
  key.text("most", {explained.cols - margin, key_height / 2.0}, size, kInk, Align::End, Align::Center);
  cv::Mat picture(explained.rows + key_height, explained.cols, CV_8UC3);
  explained.copyTo(picture(cv::Rect(0, 0, explained.cols, explained.rows)));
  key.result().copyTo(picture(cv::Rect(0, explained.rows, explained.cols, key_height)));
  if (bar_right - bar_left >= 8) {  // the colour bar itself, drawn in the jet colours the map uses
    const int width = static_cast<int>(bar_right - bar_left), height = key_height / 2;
    cv::Mat ramp(1, width, CV_32F);
    for (int x = 0; x < width; ++x) ramp.at<float>(0, x) = static_cast<float>(x) / static_cast<float>(width - 1);
    const cv::Mat bar = gradcam_overlay(cv::Mat(height, width, CV_8UC3, kWhite), ramp, 1.0);
    const cv::Rect bar_box(static_cast<int>(bar_left), explained.rows + (key_height - height) / 2, width, height);
    bar.copyTo(picture(bar_box));
  }
  return picture;
}

}  // namespace catdog
