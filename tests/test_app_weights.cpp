// Backbone weights in the application: --weights, the user's cache, the
// download on first use from the registry's URL or a mirror.
#include "catdog/app/weights.h"

#include <atomic>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "catdog/base/download.h"
#include "catdog/base/error.h"
#include "file_server.h"
#include "test_support.h"

namespace catdog::app {
namespace {

using catdog::testing::error_of;
using catdog::testing::LoopbackServer;
using catdog::testing::ScopedEnv;
using catdog::testing::TempDir;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

void write_bytes(const fs::path& file, const std::string& bytes) { std::ofstream(file, std::ios::binary) << bytes; }

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A registry entry like MobileNetV2's for a small file the test serves:
// /keras/tiny.h5 (the "registry's" host) and /mirror/tiny.h5 hold the
// right bytes, /bad/tiny.h5 bytes of the right size that are not.
class AppWeights : public ::testing::Test {
 protected:
  void SetUp() override {
    write_bytes(dir_ / "tiny", bytes_);
    spec_ = model_spec(ModelKind::MobileNetV2);
    spec_.keras_weights_file = "tiny.h5";
    spec_.weights_bytes = static_cast<int64_t>(bytes_.size());
    spec_.weights_md5 = md5_of_file(dir_ / "tiny");
    for (const std::string prefix : {"/keras", "/mirror", "/bad"})
      server_.server().Get(prefix + "/tiny.h5", [this, prefix](const httplib::Request&, httplib::Response& response) {
        ++requests_;
        std::string served = bytes_;
        if (prefix == "/bad") served[7] ^= 1;
        response.set_content(served, "application/octet-stream");
      });
    server_.start();
    spec_.weights_url = server_.url() + "/keras/tiny.h5";
  }

  fs::path cache_dir() const { return dir_ / "cache" / "catdog" / "weights"; }

  TempDir dir_;
  const std::string bytes_ = std::string(50'000, 'w') + "the end";
  ModelSpec spec_ = model_spec(ModelKind::MobileNetV2);
  std::atomic<int> requests_{0};
  LoopbackServer server_;
  ScopedEnv cache_{"XDG_CACHE_HOME", (dir_ / "cache").c_str()};
  ScopedEnv no_mirror_{"CATDOG_WEIGHTS_URL", nullptr};
};

TEST_F(AppWeights, DownloadsOnFirstUseThenUsesTheCache) {
  const fs::path file = backbone_weights(spec_, "", nullptr);
  EXPECT_EQ(file, cache_dir() / "tiny.h5");
  EXPECT_EQ(read_bytes(file), bytes_);
  EXPECT_EQ(backbone_weights(spec_, "", nullptr), file);
  EXPECT_EQ(requests_, 1);
}

TEST_F(AppWeights, DrawsTheProgressBarInMegabytes) {
  TempDir out;
  std::FILE* stream = std::fopen((out / "progress").c_str(), "w");
  backbone_weights(spec_, "", stream);
  std::fclose(stream);
  const std::string progress = read_bytes(out / "progress");
  EXPECT_THAT(progress, HasSubstr("mobilenetv2 weights 1/1 "));  // off a terminal: the final line only
  EXPECT_THAT(progress, HasSubstr(" MB/s in "));
}

TEST_F(AppWeights, AMirrorReplacesTheHostButNotTheChecksum) {
  {
    const ScopedEnv mirror("CATDOG_WEIGHTS_URL", (server_.url() + "/bad").c_str());
    const std::string message = error_of([&] { backbone_weights(spec_, "", nullptr); });
    EXPECT_THAT(message, HasSubstr(server_.url() + "/bad/tiny.h5 fails the size and MD5 check"));
    EXPECT_THAT(message, HasSubstr("pass --weights FILE"));
    EXPECT_FALSE(fs::exists(cache_dir() / "tiny.h5"));
  }
  const ScopedEnv mirror("CATDOG_WEIGHTS_URL", (server_.url() + "/mirror/").c_str());
  EXPECT_EQ(read_bytes(backbone_weights(spec_, "", nullptr)), bytes_);
}

TEST_F(AppWeights, ACachedFileThatFailsTheCheckIsRefused) {
  fs::create_directories(cache_dir());
  write_bytes(cache_dir() / "tiny.h5", "truncated");
  const std::string message = error_of([&] { backbone_weights(spec_, "", nullptr); });
  EXPECT_THAT(message, HasSubstr((cache_dir() / "tiny.h5").string() + " is not Keras' mobilenetv2 ImageNet weight file"));
  EXPECT_THAT(message, HasSubstr("9 bytes where 50007 were expected"));
  EXPECT_THAT(message, HasSubstr("--weights FILE"));
  EXPECT_EQ(read_bytes(cache_dir() / "tiny.h5"), "truncated");  // the user's file, left as it is
  EXPECT_EQ(requests_, 0);
}

TEST_F(AppWeights, OfflineSaysWhichFileToFetchAndWhereToPutIt) {
  spec_.weights_url = "http://127.0.0.1:1/keras/tiny.h5";  // nothing listens on port 1
  const std::string message = error_of([&] { backbone_weights(spec_, "", nullptr); });
  EXPECT_THAT(message, HasSubstr("save http://127.0.0.1:1/keras/tiny.h5 as " + (cache_dir() / "tiny.h5").string()));
  EXPECT_THAT(message, HasSubstr("--weights FILE"));
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST_F(AppWeights, TheWeightsFlagWins) {
  write_bytes(dir_ / "mine.h5", "any bytes: the user's choice");
  EXPECT_EQ(backbone_weights(spec_, (dir_ / "mine.h5").string(), nullptr), dir_ / "mine.h5");
  EXPECT_EQ(error_of([&] { backbone_weights(spec_, (dir_ / "absent.h5").string(), nullptr); }),
            "--weights " + (dir_ / "absent.h5").string() + ": no such file");
  EXPECT_EQ(requests_, 0);
}

}  // namespace
}  // namespace catdog::app
