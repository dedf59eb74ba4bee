// Reading untrusted input files: regular files only, never blocking, and the
// system's reason when a file cannot be read.
#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "catdog/base/read_file.h"
#include "odd_images.h"
#include "test_support.h"

namespace catdog {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;
namespace fs = std::filesystem;

std::string unreadable_message(const fs::path& file) {
  try {
    read_file_head(file, 16);
  } catch (const UnreadableFile& e) {
    return e.what();
  }
  return "no error";
}

TEST(ReadFile, HeadIsTheFirstBytesAndWholeIsAll) {
  TempDir dir;
  testing::write_bytes(dir / "ten", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_EQ(read_file_head(dir / "ten", 4), (std::vector<unsigned char>{0, 1, 2, 3}));
  EXPECT_EQ(read_file_head(dir / "ten", 100).size(), 10u);
  EXPECT_EQ(read_whole_file(dir / "ten", 10).size(), 10u);
  EXPECT_EQ(readable_file_size(dir / "ten"), 10u);
  testing::write_bytes(dir / "empty", {});
  EXPECT_TRUE(read_whole_file(dir / "empty", 10).empty());
}

TEST(ReadFile, AFileOverTheLimitIsRefusedWholeButItsHeadIsRead) {
  TempDir dir;
  testing::write_bytes(dir / "eleven", std::vector<uint8_t>(11, 7));
  try {
    read_whole_file(dir / "eleven", 10);
    FAIL() << "no error";
  } catch (const InputTooLarge& e) {
    EXPECT_THAT(e.what(), HasSubstr((dir / "eleven").string() + ": "));
  }
  EXPECT_EQ(read_file_head(dir / "eleven", 10).size(), 10u);
}

TEST(ReadFile, OnlyRegularFilesAreOpenedWithoutBlocking) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  EXPECT_THAT(unreadable_message(dir / "fifo"), HasSubstr((dir / "fifo").string() + ": a FIFO, not a regular file"));
  EXPECT_THAT(unreadable_message(dir.path()), HasSubstr(": a folder, not a regular file"));
  EXPECT_THAT(unreadable_message("/dev/null"), HasSubstr("/dev/null: a device, not a regular file"));
  EXPECT_THROW(read_whole_file(dir / "fifo", 100), UnreadableFile);
  EXPECT_THROW(readable_file_size(dir / "fifo"), UnreadableFile);
}

TEST(ReadFile, TheSystemsReasonIsInTheMessage) {
  TempDir dir;
  testing::write_bytes(dir / "locked", {1, 2, 3});
  fs::permissions(dir / "locked", fs::perms::none);
  fs::create_symlink("loop", dir / "loop");
  const testing::WithoutRootPrivileges as_a_user;
  EXPECT_THAT(unreadable_message(dir / "locked"),
              HasSubstr((dir / "locked").string() + ": cannot read it (Permission denied)"));
  EXPECT_THAT(unreadable_message(dir / "loop"), HasSubstr("cannot read it (Too many levels of symbolic links)"));
  EXPECT_THAT(unreadable_message(dir / "missing"), HasSubstr("cannot read it (No such file or directory)"));
}

}  // namespace
}  // namespace catdog
