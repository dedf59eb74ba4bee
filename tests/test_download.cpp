#include "catdog/base/download.h"

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "catdog/base/error.h"
#include "file_server.h"
#include "test_support.h"

namespace catdog {
namespace {

using catdog::testing::LoopbackServer;
using catdog::testing::TempDir;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& file, const std::string& bytes) { std::ofstream(file, std::ios::binary) << bytes; }

// 200 kB of varied bytes: several write callbacks and progress reports.
std::string payload() {
  std::string bytes(200'000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 7919 + i / 256) % 251);
  return bytes;
}

// The server: /whole.bin the payload, /short.bin its first half, /altered.bin
// the payload with one byte changed, /dropped.bin half of it then a closed
// connection, /stalled.bin 1000 bytes then nothing until the test ends.
class DownloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    whole_ = payload();
    expected_ = ExpectedFile{static_cast<int64_t>(whole_.size()), md5_of(whole_)};
    auto& server = server_.server();
    server.Get("/whole.bin", [this](const httplib::Request&, httplib::Response& response) {
      ++whole_requests_;
      response.set_content(whole_, "application/octet-stream");
    });
    server.Get("/short.bin", [this](const httplib::Request&, httplib::Response& response) {
      response.set_content(whole_.substr(0, whole_.size() / 2), "application/octet-stream");
    });
    server.Get("/altered.bin", [this](const httplib::Request&, httplib::Response& response) {
      std::string altered = whole_;
      altered[1234] ^= 1;
      response.set_content(altered, "application/octet-stream");
    });
    server.Get("/dropped.bin", [this](const httplib::Request&, httplib::Response& response) {
      response.set_content_provider(whole_.size(), "application/octet-stream",
                                    [this](size_t offset, size_t, httplib::DataSink& sink) {
                                      if (offset > 0) return false;  // closes the connection mid-body
                                      sink.write(whole_.data(), whole_.size() / 2);
                                      return true;
                                    });
    });
    server.Get("/stalled.bin", [this](const httplib::Request&, httplib::Response& response) {
      response.set_content_provider(whole_.size(), "application/octet-stream",
                                    [this](size_t offset, size_t, httplib::DataSink& sink) {
                                      if (offset > 0) {
                                        std::unique_lock<std::mutex> lock(mutex_);
                                        test_over_.wait(lock, [this] { return over_; });
                                        return false;
                                      }
                                      sink.write(whole_.data(), 1000);
                                      return true;
                                    });
    });
    server_.start();
  }
  void TearDown() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      over_ = true;
    }
    test_over_.notify_all();
  }

  std::string md5_of(const std::string& bytes) {
    write_bytes(dir_ / "hashed", bytes);
    return md5_of_file(dir_ / "hashed");
  }
  std::string url(const std::string& name) const { return server_.url() + "/" + name; }
  // Only the lock file may stay beside a refused download.
  void expect_nothing_left(const fs::path& target) {
    EXPECT_FALSE(fs::exists(target));
    EXPECT_FALSE(fs::exists(target.string() + ".part"));
  }

  TempDir dir_;
  std::string whole_;
  ExpectedFile expected_;
  std::atomic<int> whole_requests_{0};
  std::mutex mutex_;
  std::condition_variable test_over_;
  bool over_ = false;
  LoopbackServer server_;  // last: stopped before what its handlers use
};

TEST(Md5, MatchesTheKnownDigest) {
  TempDir dir;
  write_bytes(dir / "abc", "abc");
  EXPECT_EQ(md5_of_file(dir / "abc"), "900150983cd24fb0d6963f7d28e17f72");  // RFC 1321's test suite
}

TEST(FileMismatch, NamesTheSizeOrTheMd5ThatDiffers) {
  TempDir dir;
  write_bytes(dir / "abc", "abc");
  EXPECT_EQ(file_mismatch(dir / "abc", {3, "900150983cd24fb0d6963f7d28e17f72"}), "");
  EXPECT_EQ(file_mismatch(dir / "abc", {3, ""}), "");  // no MD5 pinned: the size decides
  EXPECT_EQ(file_mismatch(dir / "abc", {4, ""}), "3 bytes where 4 were expected");
  EXPECT_EQ(file_mismatch(dir / "abc", {3, "0123456789abcdef0123456789abcdef"}),
            "MD5 900150983cd24fb0d6963f7d28e17f72 where 0123456789abcdef0123456789abcdef was expected");
}

TEST_F(DownloadTest, AcceptsTheWholeFileAndReportsProgress) {
  const fs::path target = dir_ / "cache" / "weights" / "whole.bin";  // folders created
  int64_t last_received = 0;
  DownloadOptions options;
  options.progress = [&](int64_t received, int64_t) { last_received = received; };
  download_file(url("whole.bin"), target, expected_, options);
  EXPECT_EQ(read_bytes(target), whole_);
  EXPECT_FALSE(fs::exists(target.string() + ".part"));
  EXPECT_EQ(last_received, static_cast<int64_t>(whole_.size()));
}

TEST_F(DownloadTest, KeepsAMatchingFileWithoutARequest) {
  const fs::path target = dir_ / "whole.bin";
  write_bytes(target, whole_);
  download_file(url("whole.bin"), target, expected_);
  EXPECT_EQ(whole_requests_, 0);
}

TEST_F(DownloadTest, RefusesAShortFileAndLeavesNothing) {
  const fs::path target = dir_ / "short.bin";
  try {
    download_file(url("short.bin"), target, expected_);
    FAIL() << "a short file was accepted";
  } catch (const DownloadMismatch& e) {
    EXPECT_THAT(e.what(), HasSubstr("100000 bytes where 200000 were expected"));
    EXPECT_THAT(e.what(), HasSubstr(url("short.bin")));
  }
  expect_nothing_left(target);
}

TEST_F(DownloadTest, RefusesAConnectionClosedMidFileAndLeavesNothing) {
  const fs::path target = dir_ / "dropped.bin";
  EXPECT_THROW(download_file(url("dropped.bin"), target, expected_), Error);
  expect_nothing_left(target);
}

TEST_F(DownloadTest, RefusesAWrongChecksumAndLeavesNothing) {
  const fs::path target = dir_ / "altered.bin";
  try {
    download_file(url("altered.bin"), target, expected_);
    FAIL() << "a file with the wrong MD5 was accepted";
  } catch (const DownloadMismatch& e) {
    EXPECT_THAT(e.what(), HasSubstr("where " + expected_.md5 + " was expected"));
  }
  expect_nothing_left(target);
}

TEST_F(DownloadTest, ReportsANotFoundAnswer) {
  const fs::path target = dir_ / "missing.bin";
  try {
    download_file(url("missing.bin"), target, expected_);
    FAIL() << "a 404 was accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("downloading " + url("missing.bin") + " failed: the server answered HTTP 404"));
  }
  expect_nothing_left(target);
}

TEST_F(DownloadTest, AbandonsAStalledTransfer) {
  const fs::path target = dir_ / "stalled.bin";
  DownloadOptions options;
  options.stall_seconds = 1;
  try {
    download_file(url("stalled.bin"), target, expected_, options);
    FAIL() << "a stalled transfer returned";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("too slow"));  // curl's low-speed limit
  }
  expect_nothing_left(target);
}

TEST_F(DownloadTest, ConcurrentDownloadsEndWithOneWholeFile) {
  const fs::path target = dir_ / "whole.bin";
  std::atomic<int> failures{0};
  const auto download = [&] {
    try {
      download_file(url("whole.bin"), target, expected_);
    } catch (const Error&) {
      ++failures;
    }
  };
  std::thread first(download), second(download);
  first.join();
  second.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(read_bytes(target), whole_);
  EXPECT_EQ(whole_requests_, 1);  // the one that waited used the other's file
  EXPECT_FALSE(fs::exists(target.string() + ".part"));
}

}  // namespace
}  // namespace catdog
