#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "catdog/store/checkpoint.h"
#include "catdog/store/history.h"

namespace catdog::app {

// A run folder's files. last.ckpt is the truth: everything else can be
// rebuilt from it (see RunFolder::repair).
inline constexpr const char* kLastCheckpoint = "last.ckpt";
inline constexpr const char* kBestCheckpoint = "best.ckpt";
inline constexpr const char* kSettingsFile = "settings.json";
inline constexpr const char* kHistoryJson = "history.json";
inline constexpr const char* kHistoryCsv = "history.csv";
inline constexpr const char* kCurvesPng = "curves.png";
inline constexpr const char* kLockFile = ".lock";
// best.ckpt on the test split when training ended (`catdog eval --json`'s
// object plus "epoch", best.ckpt's): serve's page shows its accuracy.
inline constexpr const char* kTestResultFile = "test.json";
inline constexpr const char* kFeaturesDir = "features";  // train.pt, validation.pt: backbone features
inline constexpr const char* kImageCacheDir = "cache";   // the loader's disk cache
// runs/latest: the newest run that finished at least one epoch.
inline constexpr const char* kRunsDir = "runs";
inline constexpr const char* kLatestLink = "latest";

// Test hook: CATDOG_TEST_PAUSE_AT=<point> makes the process stop itself (SIGSTOP) on
// reaching that commit point, for tests/test_kill.cpp to kill it there. The points:
// before each file is written, before runs/latest's new link (made under a
// temporary name) replaces the old one, and after an epoch is committed.
inline constexpr const char* kLatestPoint = "runs/latest";
inline constexpr const char* kLatestRenamePoint = "runs/latest rename";
inline constexpr const char* kEpochCommittedPoint = "epoch committed";
inline constexpr const char* kCommitPoints[] = {kSettingsFile, kLastCheckpoint, kBestCheckpoint,
                                                kHistoryJson,  kHistoryCsv,     kCurvesPng,
                                                kLatestPoint,  kLatestRenamePoint, kEpochCommittedPoint};

// How to open a folder given with --out.
enum class OpenMode {
  New,      // must not exist, or be empty
  Resume,   // must hold last.ckpt
  ExistOk,  // anything there is a previous run's and is replaced
};

// A run folder held by this process: an exclusive flock on its lock file
// (which names the holder's PID) from construction to destruction, so two
// processes never write one run. A folder this object created and where no
// epoch was committed is removed again by discard_if_unused().
class RunFolder {
 public:
  // runs_root/<model>-<YYYYmmdd-HHMMSS>, or -2, -3, ... when taken: created
  // exclusively, so runs started in the same second get their own.
  static RunFolder create_default(const std::filesystem::path& runs_root, const std::string& model);
  // A folder given by the user; Error naming the way out when it does not fit `mode`.
  static RunFolder open(const std::filesystem::path& dir, OpenMode mode);

  RunFolder(RunFolder&& other) noexcept;
  RunFolder& operator=(RunFolder&&) = delete;
  RunFolder(const RunFolder&) = delete;
  ~RunFolder();

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path file(const char* name) const { return path_ / name; }

  void write_settings(const nlohmann::json& settings) const;
  void write_test_result(const nlohmann::json& result) const;

  // One epoch, committed in this order (a kill between two steps leaves a
  // folder that repair() completes):
  //  1. last.ckpt  2. best.ckpt (the same weights, no optimizer state) when `is_best`
  //  3. history.json, history.csv  4. curves.png  5. runs/latest -> this run.
  void commit_epoch(Classifier& model, const std::vector<torch::Tensor>& optimizer_state,
                    const CheckpointMeta& meta, bool is_best) const;

  // For --resume, from last.ckpt (`last`, loaded by the caller): rewrites
  // best.ckpt when it is missing or not the best epoch of last's history,
  // rewrites the history files and curves with last's epochs (a kill may
  // have left them one epoch ahead), removes stray .tmp files and points
  // runs/latest at the run (a kill may have stopped the commit before it).
  // Returns the epoch best.ckpt then holds: the last one when the best
  // epoch's weights were lost (0 without epochs).
  int repair(const Checkpoint& last) const;

  // Removes the folder when this object created it and no epoch was
  // committed; true when it did.
  bool discard_if_unused();

 private:
  RunFolder(std::filesystem::path path, bool created);
  void lock();

  std::filesystem::path path_;
  bool created_ = false;
  int lock_fd_ = -1;
};

// Points runs/latest (in the current folder) at `run_dir`, replacing the
// link atomically: relative inside runs/, absolute elsewhere. Removes the
// temporary links of killed processes.
void point_latest_link(const std::filesystem::path& run_dir);

// --checkpoint: a checkpoint file, or a run folder (its best checkpoint);
// empty = runs/latest's best. Throws Error saying how to get one.
std::filesystem::path resolve_checkpoint(const std::string& from_flag);

// A settings.json (a run's recipe, for --config) as JSON; Error naming the file
// when it cannot be read or is not a JSON object.
nlohmann::json read_settings(const std::filesystem::path& file);
// The data folder a run recorded in its settings ("" when none).
std::string recorded_data_dir(const nlohmann::json& settings);

// load_checkpoint (store/checkpoint.h) for eval, predict and serve: a file that
// is not a whole checkpoint is an Error that also says what to pass instead.
Checkpoint load_run_checkpoint(const std::filesystem::path& file, torch::Device device);

}  // namespace catdog::app
