// Helpers shared by the tests: temporary folders, generated images and
// datasets, the location of ../shared.
#pragma once
#include <unistd.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "catdog/error.h"

namespace catdog::testing {

namespace fs = std::filesystem;

// A fresh folder under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::random_device random;
    path_ = fs::temp_directory_path() / ("catdog-test-" + std::to_string(random()) + std::to_string(random()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

// An image a small network tells apart easily: cats are blue with a bright
// disc, dogs red with a dark square, both with noise and varied placement.
inline cv::Mat synthetic_pet_bgr(bool dog, int index, int width = 200, int height = 150) {
  std::mt19937 random(static_cast<unsigned>(index * 2 + (dog ? 1 : 0)));
  std::uniform_int_distribution<int> jitter(-25, 25);
  cv::Mat image(height, width, CV_8UC3, dog ? cv::Scalar(40, 50, 190) : cv::Scalar(190, 60, 40));
  cv::Mat noise(height, width, CV_8UC3);
  cv::randu(noise, cv::Scalar::all(0), cv::Scalar::all(40));
  image += noise;
  const cv::Point center(width / 2 + jitter(random), height / 2 + jitter(random));
  if (dog)
    cv::rectangle(image, center - cv::Point(30, 30), center + cv::Point(30, 30), cv::Scalar(20, 20, 20), cv::FILLED);
  else
    cv::circle(image, center, 30, cv::Scalar(240, 240, 240), cv::FILLED);
  return image;
}

// root/<cat_dir>/cat.<i>.jpg and root/<dog_dir>/dog.<i>.jpg, `per_class` each.
inline void write_synthetic_dataset(const fs::path& root, int per_class, const std::string& cat_dir = "cat",
                                    const std::string& dog_dir = "dog") {
  fs::create_directories(root / cat_dir);
  fs::create_directories(root / dog_dir);
  for (int i = 0; i < per_class; ++i) {
    cv::imwrite((root / cat_dir / ("cat." + std::to_string(i) + ".jpg")).string(), synthetic_pet_bgr(false, i));
    cv::imwrite((root / dog_dir / ("dog." + std::to_string(i) + ".jpg")).string(), synthetic_pet_bgr(true, i));
  }
}

// ../shared beside the source tree (CI has it at the same place), or "" when absent.
inline fs::path shared_dir() {
  const fs::path shared = fs::path(CATDOG_SOURCE_DIR).parent_path() / "shared";
  return fs::exists(shared) ? shared : fs::path();
}

// Runs `body` with the working directory set to `dir`.
template <typename Body>
void in_directory(const fs::path& dir, Body&& body) {
  const auto previous = fs::current_path();
  fs::current_path(dir);
  try {
    body();
  } catch (...) {
    fs::current_path(previous);
    throw;
  }
  fs::current_path(previous);
}

// The message of the catdog::Error that `body` throws, or "no error".
inline std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// While alive, file permissions apply to this process: root (as the tests
// often run) reads everything, so it acts as user "nobody" (65534). Files
// the test made stay readable to nobody unless the test chmods them.
class WithoutRootPrivileges {
 public:
  WithoutRootPrivileges() : was_root_(::geteuid() == 0) {
    if (was_root_ && ::seteuid(65534) != 0) ADD_FAILURE() << "cannot drop root privileges";
  }
  ~WithoutRootPrivileges() {
    if (was_root_ && ::seteuid(0) != 0) ADD_FAILURE() << "cannot restore root privileges";
  }
  WithoutRootPrivileges(const WithoutRootPrivileges&) = delete;
  WithoutRootPrivileges& operator=(const WithoutRootPrivileges&) = delete;

 private:
  bool was_root_;
};

// Inputs that once crashed a fuzz target (fuzz/, scripts/fuzz.sh), kept in
// tests/fuzz_regressions/TARGET/ and replayed through the normal build by the
// module's tests. Sorted, so a failure names the same file every time.
inline std::vector<fs::path> fuzz_regressions(const std::string& target) {
  std::vector<fs::path> inputs;
  for (const auto& entry : fs::directory_iterator(fs::path(CATDOG_SOURCE_DIR) / "tests" / "fuzz_regressions" / target))
    inputs.push_back(entry.path());
  std::sort(inputs.begin(), inputs.end());
  return inputs;
}

// The built catdog executable, for CLI-level tests.
inline fs::path catdog_binary() { return CATDOG_BINARY; }

inline std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A path as one shell word.
inline std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

struct CommandResult {
  int code = -1;
  std::string out, err;
};

// Runs `command` with the shell, its stdout and stderr captured through
// files in `scratch` (a folder the caller keeps).
inline CommandResult run_shell(const std::string& command, const fs::path& scratch) {
  static int counter = 0;
  const std::string id = std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const fs::path out = scratch / ("out" + id), err = scratch / ("err" + id);
  const int status = std::system((command + " >" + quoted(out) + " 2>" + quoted(err)).c_str());
  CommandResult result;
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_text(out);
  result.err = read_text(err);
  fs::remove(out);
  fs::remove(err);
  return result;
}

}  // namespace catdog::testing
