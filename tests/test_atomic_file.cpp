#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "catdog/base/atomic_file.h"
#include "catdog/base/error.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace {

using catdog::testing::read_text;

TEST(AtomicFile, WritesAndReplaces) {
  catdog::testing::TempDir dir;
  const auto file = dir.path() / "a.txt";
  catdog::write_file_atomically(file, "first");
  EXPECT_EQ(read_text(file), "first");
  catdog::write_file_atomically(file, std::string(100000, 'x'));
  EXPECT_EQ(read_text(file).size(), 100000u);
  EXPECT_FALSE(fs::exists(file.string() + ".tmp"));
}

// /dev/full fails every write with ENOSPC: a real "disk full", whatever the test runs as.
TEST(AtomicFile, DiskFullKeepsTheOldFileAndSaysWhy) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  catdog::testing::TempDir dir;
  const auto file = dir.path() / "ckpt";
  catdog::write_file_atomically(file, "previous");
  // FILE.tmp as a link to /dev/full: open(O_TRUNC) succeeds, write fails with ENOSPC.
  fs::create_symlink("/dev/full", file.string() + ".tmp");
  try {
    catdog::write_file_atomically(file, "new content");
    FAIL() << "no error on a full disk";
  } catch (const catdog::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no space left on device while writing " + file.string()),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(read_text(file), "previous");
  EXPECT_FALSE(fs::exists(fs::symlink_status(file.string() + ".tmp")));
}

TEST(AtomicFile, MissingFolderIsAnError) {
  catdog::testing::TempDir dir;
  EXPECT_THROW(catdog::write_file_atomically(dir.path() / "no" / "such" / "file", "x"), catdog::Error);
}

}  // namespace
