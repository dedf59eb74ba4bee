#include "catdog/base/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include <spdlog/fmt/fmt.h>

namespace catdog {

namespace {

constexpr int kBarWidth = 30, kNarrowestBar = 10;
// A terminal redraw at most this often: drawing costs more than a small batch.
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

std::string format_duration(double seconds) {
  const auto total = static_cast<long>(seconds + 0.5);
  if (total >= 3600) return fmt::format("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60);
  return fmt::format("{}:{:02}", total / 60, total % 60);
}

// "[=====>....]", `width` characters inside the brackets, `done` of `total` filled.
std::string format_bar(size_t done, size_t total, int width = kBarWidth) {
  const int filled = total ? static_cast<int>(width * std::min(done, total) / total) : width;
  std::string bar(width, '.');
  for (int i = 0; i < filled; ++i) bar[i] = '=';
  if (filled < width) bar[filled] = '>';
  return "[" + bar + "]";
}

std::string joined(std::initializer_list<std::string> parts) {
  std::string line;
  for (const auto& part : parts)
    if (!part.empty()) line += (line.empty() ? "" : " ") + part;
  return line;
}

}  // namespace

ProgressBar::ProgressBar(std::string label, size_t total_steps, std::FILE* out, std::string unit, int columns)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total_steps),
      columns_(columns > 0 ? columns : kDefaultColumns),
      out_(out),
      tty_(out != nullptr && isatty(fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - kRedrawInterval) {}

ProgressBar::~ProgressBar() {
  if (out_ && tty_ && !finished_ && steps_ > 0) std::fputc('\n', out_);
}

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressBar::advance(size_t items, const std::string& metrics) {
  ++steps_;
  items_ += items;
  metrics_ = metrics;
  if (!out_ || !tty_) return;  // off a terminal only the final line is written
  const auto now = std::chrono::steady_clock::now();
  if (steps_ < total_ && now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  draw(false);
}

void ProgressBar::finish(const std::string& metrics) {
  metrics_ = metrics;
  finish();
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  if (out_) draw(true);
}

// The whole line off a terminal; on one, the longest form that fits in one
// line short of the last column (writing there makes some terminals wrap).
std::string ProgressBar::fitted_line(bool final, const std::string& rate, const std::string& time) const {
  const std::string count = fmt::format("{} {}/{}", label_, steps_, total_);
  const auto line = [&](int bar_width, bool with_rate) {
    return joined({count, bar_width > 0 ? format_bar(steps_, total_, bar_width) : "", with_rate ? rate : "", time,
                   metrics_});
  };
  if (!tty_) return line(kBarWidth, true);
  const size_t width = static_cast<size_t>(columns_ - 1);
  for (const bool with_rate : {true, false})
    for (int bar_width = kBarWidth; bar_width >= kNarrowestBar; bar_width -= 5)
      if (const auto text = line(bar_width, with_rate); text.size() <= width) return text;
  const std::string text = line(0, false);
  // A final line is not redrawn: it may wrap rather than lose its metrics.
  return final || text.size() <= width ? text : text.substr(0, width);
}

void ProgressBar::draw(bool final) {
  const double seconds = elapsed_seconds();
  const double rate = seconds > 0 ? static_cast<double>(items_) / seconds : 0.0;
  const double remaining =
      steps_ > 0 ? seconds * static_cast<double>(total_ - std::min(steps_, total_)) / static_cast<double>(steps_) : 0.0;
  const std::string line =
      fitted_line(final, fmt::format("{:.1f} {}/s", rate, unit_),
                  fmt::format("{} {}", final ? "in" : "ETA", format_duration(final ? seconds : remaining)));
  if (tty_)
    // \x1b[K clears what a longer previous line left behind.
    std::fprintf(out_, "\r%s\x1b[K%s", line.c_str(), final ? "\n" : "");
  else
    std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
}

}  // namespace catdog
