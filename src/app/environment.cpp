#include "catdog/app/environment.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

#include "catdog/base/error.h"
#include "catdog/base/progress.h"
#include "catdog/base/text.h"
#include "catdog/data/dataset.h"
#include "catdog/infer/face.h"

namespace catdog::app {

namespace fs = std::filesystem;

namespace {

// The variable's value, "" when unset.
std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

// --data's folder before it is checked: the flag, else $CATDOG_DATA, else data/.
fs::path dataset_folder_name(const std::string& data_flag) {
  const std::string from_environment = environment("CATDOG_DATA");
  return !data_flag.empty()          ? fs::path(data_flag)
         : !from_environment.empty() ? fs::path(from_environment)
                                     : fs::path("data");
}

}  // namespace

fs::path dataset_folder(const std::string& data_flag) {
  const fs::path dir = dataset_folder_name(data_flag);
  if (!has_dataset(dir))
    throw Error(no_dataset_message(dir) +
                ": run scripts/download_cats_vs_dogs.sh, or point --data (or CATDOG_DATA) at a folder with one "
                "subfolder per class");
  return dir;
}

fs::path dataset_folder(const std::string& data_flag, const std::string& recorded) {
  if (!data_flag.empty() || recorded.empty()) return dataset_folder(data_flag);
  if (has_dataset(recorded)) return recorded;
  const std::string moved = "the run's data folder " + recorded + " holds no dataset any more (moved or removed?)";
  const fs::path fallback = dataset_folder_name("");
  if (!has_dataset(fallback)) throw Error(moved + ": pass --data with where it is now");
  spdlog::warn("{}: using {}; pass --data to choose another", moved, fallback.string());
  return fallback;
}

fs::path face_cascade() {
  const std::string from_environment = environment("CATDOG_FACE_CASCADE");
  if (from_environment.empty()) return find_face_cascade();
  if (!fs::is_regular_file(from_environment))
    throw Error("CATDOG_FACE_CASCADE points to " + from_environment + ", which is not a file: set it to OpenCV's " +
                kDefaultFaceCascade + " or unset it");
  return from_environment;
}

fs::path weights_cache_dir() {
  const fs::path xdg = environment("XDG_CACHE_HOME");
  if (xdg.is_absolute()) return xdg / "catdog" / "weights";
  const std::string home = environment("HOME");
  if (home.empty())
    throw Error("neither XDG_CACHE_HOME nor HOME is set: no folder to keep the ImageNet weights in; pass --weights FILE");
  return fs::path(home) / ".cache" / "catdog" / "weights";
}

std::string weights_mirror() { return environment("CATDOG_WEIGHTS_URL"); }

fs::path onnxruntime_web_folder() {
  const std::string given = environment("CATDOG_ONNXRUNTIME_WEB");
  return given.empty() ? fs::path(CATDOG_ONNXRUNTIME_WEB_DIR) : fs::path(given);
}

int terminal_columns(int fd) {
  const auto columns = parse_whole_number(environment("COLUMNS"));
  if (columns && *columns > 0 && *columns < 100000) return static_cast<int>(*columns);
  winsize size{};
  if (ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return ProgressBar::kDefaultColumns;
}

bool use_colour(int fd) {
  return isatty(fd) != 0 && environment("NO_COLOR").empty() && environment("TERM") != "dumb";
}

}  // namespace catdog::app
