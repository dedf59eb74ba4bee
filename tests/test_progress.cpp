#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "catdog/base/progress.h"
#include "test_support.h"

namespace {

using catdog::testing::PseudoTerminal;

// Sends stderr to `fd` while `body` runs.
template <typename Body>
void with_stderr_on(int fd, Body&& body) {
  std::fflush(stderr);
  const int saved = dup(STDERR_FILENO);
  dup2(fd, STDERR_FILENO);
  body();
  std::fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
}

// Runs `body` with stderr sent to a file (not a terminal), returns its lines.
template <typename Body>
std::vector<std::string> stderr_lines_of(Body&& body) {
  catdog::testing::TempDir dir;
  const auto file = dir / "stderr.txt";
  const int target = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  with_stderr_on(target, body);
  close(target);
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST(ProgressBar, OffATerminalOneLinePerBarAsKerasVerbose2) {
  const auto lines = stderr_lines_of([] {
    catdog::ProgressBar bar("epoch 1/2", 50, stderr);
    for (size_t step = 1; step <= 50; ++step) bar.advance(32, "loss 0.5213 acc 0.7412");
    bar.finish();
  });
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("epoch 1/2 50/50 [==============================] ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(" img/s in 0:"), std::string::npos) << lines[0];
  EXPECT_EQ(lines[0].find('\r'), std::string::npos) << lines[0];
  EXPECT_EQ(lines[0].substr(lines[0].size() - 22), "loss 0.5213 acc 0.7412");
}

TEST(ProgressBar, FinishCanReplaceTheMetrics) {
  const auto lines = stderr_lines_of([] {
    catdog::ProgressBar bar("epoch 3/3", 2, stderr);
    bar.advance(8, "loss 0.4");
    bar.advance(8, "loss 0.3");
    bar.finish("loss 0.3 - val_loss 0.2");
    bar.finish();  // a second finish writes nothing
  });
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].substr(lines[0].size() - 23), "loss 0.3 - val_loss 0.2") << lines[0];
}

TEST(ProgressBar, CountsTheRealImagesNotStepsTimesBatchSize) {
  // A 4-image eval with batch size 32: one step of 4 images.
  catdog::ProgressBar bar("eval test", 1, nullptr);
  bar.advance(4);
  EXPECT_EQ(bar.items_done(), 4u);
  catdog::ProgressBar epoch("epoch 1/1", 3, nullptr);
  for (size_t items : {32, 32, 7}) epoch.advance(items);
  EXPECT_EQ(epoch.items_done(), 71u);
}

TEST(ProgressBar, AnUnfinishedBarStillReportsWhereItStopped) {
  const auto lines = stderr_lines_of([] {
    catdog::ProgressBar bar("features", 10, stderr);
    for (int step = 0; step < 3; ++step) bar.advance(10);
    bar.finish();  // e.g. the loader ran out early
  });
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("features 3/10 [=========>", 0), 0u) << lines[0];
}

TEST(ProgressBar, DisabledPrintsNothing) {
  const auto lines = stderr_lines_of([] {
    catdog::ProgressBar bar("epoch 1/1", 10, nullptr);
    for (size_t step = 1; step <= 10; ++step) bar.advance(32, "loss 1");
    bar.finish();
  });
  EXPECT_TRUE(lines.empty());
}

TEST(ProgressBar, OnATerminalRedrawsOneLineInPlace) {
  PseudoTerminal pty;
  if (!pty.ok()) GTEST_SKIP() << "no pseudo-terminal on this machine";
  with_stderr_on(pty.terminal(), [] {
    // Wide: the rate of steps this fast has many digits (RedrawsFitTheTerminalWidth narrows).
    catdog::ProgressBar bar("epoch 1/1", 3, stderr, "img", 200);
    for (int step = 0; step < 3; ++step) bar.advance(16, "loss 0.5");
    bar.finish();
  });
  const std::string screen = pty.screen();
  // The first step and the last are always drawn, each starting with \r.
  EXPECT_EQ(screen.rfind("\repoch 1/1 1/3 [==========>", 0), 0u) << screen;
  EXPECT_NE(screen.find("\repoch 1/1 3/3 [==============================]"), std::string::npos) << screen;
  ASSERT_FALSE(screen.empty());
  EXPECT_EQ(screen.back(), '\n');
  EXPECT_EQ(std::count(screen.begin(), screen.end(), '\n'), 1) << screen;
  EXPECT_EQ(screen.find("\x1b[3"), std::string::npos) << "the bar is not coloured";
}

// Each redraw fits the terminal's width (one column to spare): a line that
// wraps is never redrawn in place and leaves a stale line per update.
TEST(ProgressBar, RedrawsFitTheTerminalWidth) {
  PseudoTerminal pty;
  if (!pty.ok()) GTEST_SKIP() << "no pseudo-terminal on this machine";
  const std::string metrics = "loss 0.6931 - accuracy 0.5000 - val_loss 0.6931 - val_accuracy 0.5000";
  for (const int columns : {80, 60, 30}) {
    with_stderr_on(pty.terminal(), [&] {
      catdog::ProgressBar bar("epoch 12/30", 1000, stderr, "img", columns);
      for (int step = 0; step < 999; ++step) bar.advance(32, metrics);
    });
    const std::string screen = pty.screen();
    std::istringstream redraws(screen);
    size_t drawn = 0;
    for (std::string redraw; std::getline(redraws, redraw, '\r');) {
      if (redraw.empty()) continue;
      const std::string text = redraw.substr(0, redraw.find("\x1b[K"));
      EXPECT_LE(text.size(), static_cast<size_t>(columns - 1)) << columns << " columns: " << text;
      EXPECT_EQ(text.rfind("epoch 12/30 ", 0), 0u) << text;
      ++drawn;
    }
    EXPECT_GT(drawn, 0u);
    EXPECT_EQ(std::count(screen.begin(), screen.end(), '\n'), 1) << screen;
  }
  // Wide enough: the whole line, the 30-character bar included.
  with_stderr_on(pty.terminal(), [&] {
    catdog::ProgressBar bar("epoch 12/30", 4, stderr, "img", 200);
    bar.advance(32, metrics);
  });
  const std::string wide = pty.screen();
  EXPECT_NE(wide.find("[=======>......................] "), std::string::npos) << wide;
  EXPECT_NE(wide.find(metrics), std::string::npos) << wide;
}

TEST(ProgressBar, AnAbandonedBarEndsItsTerminalLine) {
  PseudoTerminal pty;
  if (!pty.ok()) GTEST_SKIP() << "no pseudo-terminal on this machine";
  with_stderr_on(pty.terminal(), [] {
    catdog::ProgressBar bar("epoch 1/1", 3, stderr);
    bar.advance(16);
  });  // destroyed without finish(), as when a step throws
  const std::string screen = pty.screen();
  ASSERT_FALSE(screen.empty());
  EXPECT_EQ(screen.back(), '\n') << "an error message would land on the bar's line";
}

