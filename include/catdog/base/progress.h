#pragma once
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>

namespace catdog {

// A Keras/tqdm-like progress bar on the stream it is given: "label k/N [====>   ] 123.4 img/s
// ETA 0:42 <metrics>". On a terminal it is redrawn in place; otherwise (a log
// file, CI) it writes one line when it finishes, as Keras' verbose=2 does.
// Disabled: prints nothing.
class ProgressBar {
 public:
  // Writes to `out` (the application passes stderr); nullptr: nothing.
  // `unit`: what advance()'s items are, for the rate ("img/s", "MB/s").
  ProgressBar(std::string label, size_t total_steps, std::FILE* out, std::string unit = "img");
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

  std::string label_, unit_, metrics_;
  size_t total_, steps_ = 0, items_ = 0;
  std::FILE* out_;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace catdog
