// The app's one reader of the environment (app/environment.h).
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "catdog/app/environment.h"
#include "catdog/base/error.h"
#include "catdog/infer/face.h"
#include "test_support.h"

namespace catdog::app {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using catdog::testing::PseudoTerminal;
using catdog::testing::ScopedEnv;
using catdog::testing::TempDir;

TEST(Environment, DatasetFolderPrefersFlagThenEnvironmentThenDataFolder) {
  TempDir dir;
  testing::write_synthetic_dataset(dir / "flag", 1);
  testing::write_synthetic_dataset(dir / "env", 1);
  testing::write_synthetic_dataset(dir / "cwd" / "data", 1);
  const auto previous_cwd = fs::current_path();
  fs::current_path(dir / "cwd");

  ScopedEnv data_variable("CATDOG_DATA", (dir / "env").c_str());
  EXPECT_EQ(dataset_folder((dir / "flag").string()), dir / "flag");
  EXPECT_EQ(dataset_folder(""), dir / "env");
  setenv("CATDOG_DATA", "", 1);
  EXPECT_EQ(dataset_folder(""), fs::path("data"));
  unsetenv("CATDOG_DATA");
  EXPECT_EQ(dataset_folder(""), fs::path("data"));
  fs::remove_all(dir / "cwd" / "data");
  EXPECT_THAT(testing::error_of([] { dataset_folder(""); }), HasSubstr("no dataset in data/"));
  EXPECT_THAT(testing::error_of([&] { dataset_folder((dir / "nothing").string()); }),
              HasSubstr("no dataset in " + (dir / "nothing" / "").string()));

  fs::current_path(previous_cwd);
}

TEST(Environment, AFolderWithoutADatasetSaysHowToGetOne) {
  TempDir dir;
  try {
    dataset_folder(dir.path().string());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("no dataset in " + (dir.path() / "").string()));
    EXPECT_THAT(e.what(), HasSubstr("scripts/download_cats_vs_dogs.sh"));
    EXPECT_THAT(e.what(), HasSubstr("--data (or CATDOG_DATA)"));
  }
}

TEST(Environment, FaceCascadeFromTheVariableElseOpencvData) {
  TempDir dir;
  {
    ScopedEnv unset("CATDOG_FACE_CASCADE", nullptr);
    EXPECT_EQ(face_cascade(), find_face_cascade());
  }
  {
    ScopedEnv empty("CATDOG_FACE_CASCADE", "");
    EXPECT_EQ(face_cascade(), find_face_cascade());
  }
  {
    ScopedEnv chosen("CATDOG_FACE_CASCADE", find_face_cascade("haarcascade_frontalface_default.xml").c_str());
    EXPECT_EQ(face_cascade().filename(), "haarcascade_frontalface_default.xml");
  }
  {
    ScopedEnv wrong("CATDOG_FACE_CASCADE", (dir / "none.xml").c_str());
    try {
      face_cascade();
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("CATDOG_FACE_CASCADE points to " + (dir / "none.xml").string()));
    }
  }
}

TEST(Environment, WeightsCacheFollowsXdgCacheHomeElseHome) {
  const ScopedEnv home("HOME", "/home/someone");
  {
    const ScopedEnv xdg("XDG_CACHE_HOME", "/var/cache/me");
    EXPECT_EQ(weights_cache_dir(), fs::path("/var/cache/me/catdog/weights"));
  }
  for (const char* ignored : {static_cast<const char*>(nullptr), "", "relative/cache"}) {
    const ScopedEnv xdg("XDG_CACHE_HOME", ignored);
    EXPECT_EQ(weights_cache_dir(), fs::path("/home/someone/.cache/catdog/weights")) << (ignored ? ignored : "unset");
  }
  const ScopedEnv no_home("HOME", nullptr);
  const ScopedEnv no_xdg("XDG_CACHE_HOME", nullptr);
  EXPECT_THAT(testing::error_of([] { weights_cache_dir(); }), HasSubstr("pass --weights FILE"));
}

TEST(Environment, ColourOnlyOnATerminalWithoutNoColor) {
  PseudoTerminal pty;
  if (!pty.ok()) GTEST_SKIP() << "no pseudo-terminal on this machine";
  ScopedEnv term("TERM", "xterm-256color");
  {
    ScopedEnv no_color("NO_COLOR", nullptr);
    EXPECT_TRUE(use_colour(pty.terminal()));
  }
  {
    ScopedEnv no_color("NO_COLOR", "1");
    EXPECT_FALSE(use_colour(pty.terminal()));
  }
  {
    ScopedEnv no_color("NO_COLOR", "");  // no-color.org: an empty value does not count
    EXPECT_TRUE(use_colour(pty.terminal()));
  }
  {
    ScopedEnv no_color("NO_COLOR", nullptr);
    ScopedEnv dumb("TERM", "dumb");
    EXPECT_FALSE(use_colour(pty.terminal()));
  }
}

TEST(Environment, TerminalColumnsFromColumnsElseTheTerminal) {
  PseudoTerminal pty;
  if (!pty.ok()) GTEST_SKIP() << "no pseudo-terminal on this machine";
  winsize size{};
  size.ws_col = 57;
  size.ws_row = 20;
  ASSERT_EQ(ioctl(pty.terminal(), TIOCSWINSZ, &size), 0);
  {
    ScopedEnv columns("COLUMNS", "123");
    EXPECT_EQ(terminal_columns(pty.terminal()), 123);
  }
  for (const char* ignored : {static_cast<const char*>(nullptr), "", "wide", "-3", "0"}) {
    ScopedEnv columns("COLUMNS", ignored);
    EXPECT_EQ(terminal_columns(pty.terminal()), 57) << (ignored ? ignored : "unset");
  }
  ScopedEnv columns("COLUMNS", nullptr);
  TempDir dir;
  const int file = open((dir / "log").c_str(), O_WRONLY | O_CREAT, 0600);
  EXPECT_EQ(terminal_columns(file), 80);
  close(file);
}

TEST(Environment, ColourNeverIntoAFile) {
  ScopedEnv no_color("NO_COLOR", nullptr);
  ScopedEnv term("TERM", "xterm");
  catdog::testing::TempDir dir;
  const int file = open((dir / "log.txt").c_str(), O_WRONLY | O_CREAT, 0600);
  EXPECT_FALSE(use_colour(file));
  close(file);
}

}  // namespace
}  // namespace catdog::app
