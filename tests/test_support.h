// Helpers shared by the tests: temporary folders, generated images and
// datasets, the location of ../shared.
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "catdog/base/error.h"
#include "catdog/models/registry.h"

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

// An image of class `label` of `classes` a small network tells apart: a hue
// of its own behind a bright disc at a varied place, with noise.
inline cv::Mat synthetic_class_bgr(int label, int classes, int index, int size = 64) {
  std::mt19937 random(static_cast<unsigned>(index * 131 + label));
  std::uniform_int_distribution<int> jitter(-size / 6, size / 6);
  const cv::Mat hsv(size, size, CV_8UC3, cv::Scalar(180.0 * label / classes, 220, 200));
  cv::Mat image, noise(size, size, CV_8UC3);
  cv::cvtColor(hsv, image, cv::COLOR_HSV2BGR);
  cv::randu(noise, cv::Scalar::all(0), cv::Scalar::all(30));
  image += noise;
  cv::circle(image, {size / 2 + jitter(random), size / 2 + jitter(random)}, size / 6, cv::Scalar::all(245), cv::FILLED);
  return image;
}

// root/<name>/<name>.<i>.png for every name of `classes` (label = its place there), `per_class` each.
inline void write_class_folders(const fs::path& root, const std::vector<std::string>& classes, int per_class) {
  for (size_t label = 0; label < classes.size(); ++label) {
    fs::create_directories(root / classes[label]);
    for (int i = 0; i < per_class; ++i)
      cv::imwrite((root / classes[label] / (classes[label] + "." + std::to_string(i) + ".png")).string(),
                  synthetic_class_bgr(static_cast<int>(label), static_cast<int>(classes.size()), i));
  }
}

// What spdlog logs while it lives, as text ("[warning] ..." lines).
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(text_));
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  std::string text() const { return text_.str(); }

 private:
  std::ostringstream text_;
  std::shared_ptr<spdlog::logger> previous_;
};

// Pixels of a BGR picture that are not its white background.
inline int inked_pixels(const cv::Mat& bgr) {
  cv::Mat gray;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  return cv::countNonZero(gray < 250);
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

// A Keras-layout no-top weight file for the backbone of `kind` (the layer
// names, weight names and shapes Keras' own file has), filled with seeded
// random values: the fine-tuning and feature-cache tests run without the real
// ImageNet files. Written once per test process; returns its path.
fs::path generated_keras_weights(ModelKind kind);

// The built catdog executable, for CLI-level tests.
inline fs::path catdog_binary() { return CATDOG_BINARY; }

// A file's whole content ("" when it cannot be read).
std::string read_text(const fs::path& file);

// `text` split at its line ends.
std::vector<std::string> lines_of(const std::string& text);

// A path as one word for the shell (run_catdog's arguments).
inline std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

// How a child process is started (see Child).
struct ChildOptions {
  std::vector<std::string> environment;  // "NAME=value": set (replacing the parent's) or, as "NAME", removed
  fs::path cwd;                          // "" = the test's own
  fs::path out, err;                     // "" = /dev/null; the same file twice: both streams into it
  bool append = false;                   // append to out/err instead of truncating them
};

// The one way the tests start a program (catdog, a shell, the browser's
// driver): fork + exec of `argv` (argv[0] the program's path). Killed with
// SIGKILL and reaped when the object goes while it still runs.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv, const ChildOptions& options = {});
  ~Child();
  Child(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  // Waits until it stops (SIGSTOP, SIGTSTP: true) or ends (false).
  bool stopped();
  // True (and reaped) once it has ended; never blocks.
  bool ended();
  // Waits for the end: its exit code, 128 + the signal that killed it.
  int wait();
  // Sends `signal`. SIGKILL also reaps: true when the kill ended it.
  bool kill(int signal = SIGKILL);

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// A program run to its end: exit code, stdout and stderr.
struct CommandResult {
  int code = -1;
  std::string out, err;
};
// `argv` (argv[0] the program's path) run as a Child, its streams captured.
CommandResult run_program(const std::vector<std::string>& argv, const ChildOptions& options = {});
// catdog with `arguments` as a shell would split them (quote paths with
// '...': quoted()).
CommandResult run_catdog(const std::string& arguments, const ChildOptions& options = {});
// The same started, not waited for: stdout and stderr go where `options` say.
Child start_catdog(const std::string& arguments, const ChildOptions& options = {});

// A pseudo-terminal in raw mode (no "\n" -> "\r\n"): what a user's terminal sees.
class PseudoTerminal {
 public:
  PseudoTerminal() {
    master_ = posix_openpt(O_RDWR | O_NOCTTY);
    if (master_ < 0 || grantpt(master_) != 0 || unlockpt(master_) != 0) return;
    slave_ = open(ptsname(master_), O_RDWR | O_NOCTTY);
    termios mode{};
    tcgetattr(slave_, &mode);
    cfmakeraw(&mode);
    tcsetattr(slave_, TCSANOW, &mode);
    fcntl(master_, F_SETFL, O_NONBLOCK);
  }
  ~PseudoTerminal() {
    if (slave_ >= 0) close(slave_);
    if (master_ >= 0) close(master_);
  }
  bool ok() const { return slave_ >= 0; }
  int terminal() const { return slave_; }
  // What was written to the terminal so far.
  std::string screen() const {
    std::string text;
    char buffer[4096];
    for (ssize_t n; (n = read(master_, buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<size_t>(n));
    return text;
  }

 private:
  int master_ = -1, slave_ = -1;
};

// Sets (or with nullptr unsets) an environment variable for the scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    value ? setenv(name, value, 1) : unsetenv(name);
  }
  ~ScopedEnv() { had_ ? setenv(name_.c_str(), old_.c_str(), 1) : unsetenv(name_.c_str()); }

 private:
  std::string name_, old_;
  bool had_ = false;
};


}  // namespace catdog::testing
