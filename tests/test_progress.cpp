#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include "catdog/progress.h"
#include "test_support.h"

namespace {

// Runs `body` with stderr sent to a file (not a terminal), returns its lines.
template <typename Body>
std::vector<std::string> stderr_lines_of(Body&& body) {
  catdog::testing::TempDir dir;
  const auto file = dir / "stderr.txt";
  std::fflush(stderr);
  const int saved = dup(STDERR_FILENO);
  const int target = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  dup2(target, STDERR_FILENO);
  close(target);
  body();
  std::fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST(ProgressBar, PlainModePrintsOneLinePerTenth) {
  const auto lines = stderr_lines_of([] {
    catdog::ProgressBar bar("epoch 1/2", 50, 32, true);
    for (size_t done = 1; done <= 50; ++done) bar.update(done, "loss 0.5213 acc 0.7412");
    bar.finish();
  });
  ASSERT_EQ(lines.size(), 10u);
  EXPECT_EQ(lines[0].rfind("epoch 1/2 5/50 [===>", 0), 0u) << lines[0];
  EXPECT_EQ(lines[9].rfind("epoch 1/2 50/50 [==============================] ", 0), 0u) << lines[9];
  for (const auto& line : lines) {
    EXPECT_NE(line.find(" img/s "), std::string::npos) << line;
    EXPECT_EQ(line.find('\r'), std::string::npos) << line;
    EXPECT_EQ(line.substr(line.size() - 22), "loss 0.5213 acc 0.7412");
  }
  EXPECT_NE(lines[4].find(" ETA 0:0"), std::string::npos) << lines[4];
}

TEST(ProgressBar, FewStepsStillEndWithTheLastStep) {
  const auto lines = stderr_lines_of([] {
    catdog::ProgressBar bar("features", 3, 10, true);
    for (size_t done = 1; done <= 3; ++done) bar.update(done);
    bar.finish();
  });
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].rfind("features 1/3 [==========>", 0), 0u) << lines[0];
  EXPECT_EQ(lines[2].rfind("features 3/3 [", 0), 0u) << lines[2];
}

TEST(ProgressBar, DisabledPrintsNothing) {
  const auto lines = stderr_lines_of([] {
    catdog::ProgressBar bar("epoch 1/1", 10, 32, false);
    for (size_t done = 1; done <= 10; ++done) bar.update(done, "loss 1");
    bar.finish();
  });
  EXPECT_TRUE(lines.empty());
}
