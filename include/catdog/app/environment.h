// What catdog reads from its environment, in one place. (The launch variables
// of distributed training are read by train/process_group.h, and the test hook
// CATDOG_TEST_PAUSE_AT by run_folder.h.)
#pragma once
#include <filesystem>
#include <string>

namespace catdog::app {

// --data: the flag, else $CATDOG_DATA, else data/. Throws Error saying how to
// get the dataset and both ways to point at one when the result holds none.
std::filesystem::path dataset_folder(const std::string& data_flag);
// The same for a run that recorded its data folder (settings.json's data_dir,
// `recorded`): without --data the run's own folder, and when that holds no
// dataset any more a warning and the default above.
std::filesystem::path dataset_folder(const std::string& data_flag, const std::string& recorded);

// OpenCV's frontal-face cascade for face mode: $CATDOG_FACE_CASCADE when set,
// else the one Debian's opencv-data installs (infer/face.h).
std::filesystem::path face_cascade();

// Where downloaded ImageNet weights are kept (app/weights.h):
// $XDG_CACHE_HOME/catdog/weights, else ~/.cache/catdog/weights (an empty or
// relative XDG_CACHE_HOME is ignored, as the XDG spec says).
std::filesystem::path weights_cache_dir();
// $CATDOG_WEIGHTS_URL: a URL prefix that replaces the registry's host for
// weight downloads (a mirror); "" when unset.
std::string weights_mirror();

// The npm package onnxruntime-web for `export --format web`:
// $CATDOG_ONNXRUNTIME_WEB, else where scripts/install_deps.sh installs it in
// the source tree catdog was built from.
std::filesystem::path onnxruntime_web_folder();

// The width progress lines written to `fd` must fit: $COLUMNS when it is a
// positive number, else the terminal's (TIOCGWINSZ), else 80.
int terminal_columns(int fd);

// Whether logs written to `fd` get colours: a terminal, NO_COLOR unset or
// empty (no-color.org), TERM not "dumb".
bool use_colour(int fd);

}  // namespace catdog::app
