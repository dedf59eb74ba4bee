#pragma once
#include <chrono>
#include <cstddef>
#include <string>

namespace catdog {

// A Keras/tqdm-like progress bar on stderr: "label k/N [====>   ] 123 img/s
// ETA 0:42 <metrics>". Redrawn in place on a terminal; when stderr is not a
// terminal, a plain line every ~10% instead. Disabled: prints nothing.
class ProgressBar {
 public:
  ProgressBar(std::string label, size_t total_steps, size_t items_per_step, bool enabled);
  // `done` steps finished; `metrics` is appended as is ("loss 0.52 acc 0.74").
  void update(size_t done, const std::string& metrics = "");
  // Ends the bar's line.
  void finish();
  double elapsed_seconds() const;

 private:
  std::string label_;
  size_t total_, items_per_step_;
  bool enabled_, tty_;
  size_t last_plain_decile_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace catdog
