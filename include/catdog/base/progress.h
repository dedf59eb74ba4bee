#pragma once
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>

namespace catdog {

// A Keras/tqdm-like progress bar on the stream it is given: "label k/N [====>   ] 123.4 img/s
// ETA 0:42 <metrics>". On a terminal it is redrawn in place, in one line
// that fits `columns` (a line that wraps cannot be redrawn): the bar narrows,
// then the rate goes, then the bar, then the line is cut; otherwise (a log
// file, CI) it writes one whole line when it finishes, as Keras' verbose=2
// does. Disabled: prints nothing.
class ProgressBar {
 public:
  // Writes to `out` (the application passes stderr); nullptr: nothing.
  // `unit`: what advance()'s items are, for the rate ("img/s", "MB/s").
  // `columns`: the terminal's width (the application asks the terminal).
  ProgressBar(std::string label, size_t total_steps, std::FILE* out, std::string unit = "img",
              int columns = kDefaultColumns);
  static constexpr int kDefaultColumns = 80;
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  // Ends a terminal line left open (an exception mid-epoch).
  ~ProgressBar();

  // One more step done, of `items` images (the batch's real size: the last
  // batch is smaller, failed images are not counted); `metrics` is appended
  // as is ("loss 0.52 acc 0.74").
  void advance(size_t items, const std::string& metrics = "");
  // The final line, with `metrics` when given (e.g. the epoch's validation
  // metrics added), else those of the last step.
  void finish();
  void finish(const std::string& metrics);

  double elapsed_seconds() const;
  size_t items_done() const { return items_; }

 private:
  void draw(bool final);
  std::string fitted_line(bool final, const std::string& rate, const std::string& time) const;

  std::string label_, unit_, metrics_;
  size_t total_, steps_ = 0, items_ = 0;
  int columns_;
  std::FILE* out_;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace catdog
