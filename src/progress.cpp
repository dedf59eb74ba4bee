#include "catdog/progress.h"

#include <unistd.h>

#include <cstdio>

#include <spdlog/fmt/fmt.h>

namespace catdog {

namespace {

constexpr int kBarWidth = 30;
// A terminal redraw at most this often: drawing costs more than a small batch.
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

std::string format_duration(double seconds) {
  const auto total = static_cast<long>(seconds + 0.5);
  if (total >= 3600) return fmt::format("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60);
  return fmt::format("{}:{:02}", total / 60, total % 60);
}

// "[=====>....]" with `done` of `total` filled.
std::string format_bar(size_t done, size_t total) {
  const int filled = total ? static_cast<int>(kBarWidth * done / total) : kBarWidth;
  std::string bar(kBarWidth, '.');
  for (int i = 0; i < filled; ++i) bar[i] = '=';
  if (filled < kBarWidth) bar[filled] = '>';
  return "[" + bar + "]";
}

}  // namespace

ProgressBar::ProgressBar(std::string label, size_t total_steps, size_t items_per_step, bool enabled)
    : label_(std::move(label)),
      total_(total_steps),
      items_per_step_(items_per_step),
      enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - kRedrawInterval) {}

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressBar::update(size_t done, const std::string& metrics) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const bool last = done >= total_;
  if (tty_) {
    if (!last && now - last_draw_ < kRedrawInterval) return;
  } else {
    // Plain mode: one line per finished tenth (the last step always counts as 10/10).
    const size_t decile = total_ ? done * 10 / total_ : 10;
    if (decile <= last_plain_decile_) return;
    last_plain_decile_ = decile;
  }
  last_draw_ = now;

  const double seconds = elapsed_seconds();
  const double rate = seconds > 0 ? static_cast<double>(done * items_per_step_) / seconds : 0.0;
  const double remaining = done > 0 ? seconds * static_cast<double>(total_ - std::min(done, total_)) / done : 0.0;
  std::string line = fmt::format("{} {}/{} {} {:.1f} img/s {} {}", label_, done, total_, format_bar(done, total_),
                                 rate, last ? "in" : "ETA", format_duration(last ? seconds : remaining));
  if (!metrics.empty()) line += " " + metrics;
  if (tty_)
    // \x1b[K clears what a longer previous line left behind.
    std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
  else
    std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (enabled_ && tty_) {
    std::fputc('\n', stderr);
    std::fflush(stderr);
  }
}

}  // namespace catdog
