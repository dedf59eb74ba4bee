#include "catdog/app/run_folder.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>

#include <spdlog/spdlog.h>

#include "catdog/base/atomic_file.h"
#include "catdog/base/error.h"
#include "catdog/report/charts.h"

namespace catdog::app {

namespace fs = std::filesystem;

namespace {

constexpr const char* kTemporaryLatestPrefix = ".latest-";

std::string timestamp_now() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char text[32];
  std::strftime(text, sizeof(text), "%Y%m%d-%H%M%S", &local);
  return text;
}

// JSON text for a file: never throws on bytes that are not UTF-8.
std::string json_file_text(const nlohmann::json& json) {
  return json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// Everything but the lock file.
bool holds_anything_else(const fs::path& dir) {
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename() != kLockFile) return true;
  return false;
}

// The test hook of kCommitPoints (run_folder.h).
void pause_if_testing_at(const char* point) {
  const char* wanted = std::getenv("CATDOG_TEST_PAUSE_AT");
  if (wanted != nullptr && std::strcmp(wanted, point) == 0) ::raise(SIGSTOP);
}

void write_history_and_curves(const fs::path& dir, const History& history) {
  pause_if_testing_at(kHistoryJson);
  write_file_atomically(dir / kHistoryJson, json_file_text(history_to_json(history)));
  pause_if_testing_at(kHistoryCsv);
  write_file_atomically(dir / kHistoryCsv, history_csv(history));
  pause_if_testing_at(kCurvesPng);
  plot_training_curves(history, dir / kCurvesPng);
}

// A process killed between making its temporary link and the rename leaves
// runs/.latest-<pid>: removed once that process is gone.
void remove_orphaned_latest_links(const fs::path& runs) {
  std::error_code error;
  std::vector<fs::path> orphans;
  for (fs::directory_iterator it(runs, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(kTemporaryLatestPrefix, 0) != 0) continue;
    const long pid = std::strtol(name.c_str() + std::strlen(kTemporaryLatestPrefix), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) orphans.push_back(it->path());
  }
  for (const auto& orphan : orphans) fs::remove(orphan, error);
}

}  // namespace

RunFolder::RunFolder(fs::path path, bool created) : path_(std::move(path)), created_(created) { lock(); }

RunFolder::RunFolder(RunFolder&& other) noexcept
    : path_(std::move(other.path_)), created_(other.created_), lock_fd_(other.lock_fd_) {
  other.lock_fd_ = -1;
}

RunFolder::~RunFolder() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

void RunFolder::lock() {
  const fs::path file = path_ / kLockFile;
  lock_fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0)
    throw Error("cannot open " + file.string() + " (" + std::strerror(errno) +
                "): check that the run folder is writable");
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    std::string holder(32, '\0');
    const ssize_t got = ::pread(lock_fd_, holder.data(), holder.size(), 0);
    holder.resize(got > 0 ? static_cast<size_t>(got) : 0);
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
    ::close(lock_fd_);
    lock_fd_ = -1;
    if (error == EWOULDBLOCK)
      throw Error("run folder " + path_.string() + " in use by PID " + (holder.empty() ? "?" : holder) +
                  ": wait for that run to end, or choose another folder");
    throw Error("cannot lock " + file.string() + ": " + std::strerror(error));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, pid.data(), pid.size(), 0) < 0)
    spdlog::debug("could not record the PID in {}", file.string());
}

RunFolder RunFolder::create_default(const fs::path& runs_root, const std::string& model) {
  fs::create_directories(runs_root);
  const fs::path base = runs_root / (model + "-" + timestamp_now());
  fs::path dir = base;
  // create_directory is false when the folder exists: another run has it.
  for (int n = 2; !fs::create_directory(dir); ++n) dir = base.string() + "-" + std::to_string(n);
  return RunFolder(dir, true);
}

RunFolder RunFolder::open(const fs::path& dir, OpenMode mode) {
  const bool existed = fs::exists(dir);
  // A run folder (it has a lock file) is locked before its files are judged:
  // a live run that has not finished its first epoch is "in use", not "stopped".
  std::optional<RunFolder> held;
  if (fs::is_regular_file(dir / kLockFile)) held.emplace(RunFolder(dir, false));
  const bool has_checkpoint = fs::is_regular_file(dir / kLastCheckpoint);
  // settings.json without last.ckpt: a run stopped (killed, say) before its first epoch ended.
  const bool stopped_early = !has_checkpoint && fs::is_regular_file(dir / kSettingsFile);
  if (mode == OpenMode::Resume && !has_checkpoint)
    throw Error("cannot resume: " + (dir / kLastCheckpoint).string() + " does not exist; " +
                (stopped_early ? "that run stopped before its first epoch ended: start it again with --exist-ok"
                               : "pass --out with the folder of a run that finished at least one epoch"));
  if (existed && !fs::is_directory(dir))
    throw Error(dir.string() + " is not a folder: pass --out with a new or empty folder");
  fs::create_directories(dir);
  RunFolder folder = held ? std::move(*held) : RunFolder(dir, !existed);
  if (mode == OpenMode::New && existed && holds_anything_else(dir))
    throw Error("run folder " + dir.string() +
                (has_checkpoint  ? " already holds a run: continue it with --resume, "
                 : stopped_early ? " holds a run that stopped before its first epoch ended: "
                                 : " already holds files: ") +
                "choose a new --out folder, or add --exist-ok to train over it");
  if (mode == OpenMode::ExistOk)
    for (const char* name :
         {kLastCheckpoint, kBestCheckpoint, kHistoryJson, kHistoryCsv, kCurvesPng, kSettingsFile, kTestResultFile})
      fs::remove(dir / name);
  return folder;
}

namespace {

// JSON has no NaN or infinity: written, they would read back as null, which
// --resume refuses. The flags refuse them; this keeps any other way out too.
void require_finite_numbers(const nlohmann::json& json, const std::string& where) {
  if (json.is_number_float() && !std::isfinite(json.get<double>()))
    throw Error("cannot record " + where + " (" + std::to_string(json.get<double>()) + ") in " + kSettingsFile +
                ": not a finite number (report this as a catdog bug)");
  if (json.is_object())
    for (const auto& [key, value] : json.items()) require_finite_numbers(value, key);
  if (json.is_array())
    for (const auto& value : json) require_finite_numbers(value, where);
}

}  // namespace

void RunFolder::write_settings(const nlohmann::json& settings) const {
  require_finite_numbers(settings, "settings");
  pause_if_testing_at(kSettingsFile);
  write_file_atomically(path_ / kSettingsFile, json_file_text(settings));
}

void RunFolder::write_test_result(const nlohmann::json& result) const {
  write_file_atomically(path_ / kTestResultFile, json_file_text(result));
}

void RunFolder::commit_epoch(Classifier& model, const std::vector<torch::Tensor>& optimizer_state,
                             const CheckpointMeta& meta, bool is_best) const {
  pause_if_testing_at(kLastCheckpoint);
  save_checkpoint(path_ / kLastCheckpoint, model, optimizer_state, meta);
  if (is_best) {
    pause_if_testing_at(kBestCheckpoint);
    // Weights only: eval and predict read half the bytes (the optimizer state is last.ckpt's).
    save_checkpoint(path_ / kBestCheckpoint, model, {}, meta);
    spdlog::info("best so far: {}", (path_ / kBestCheckpoint).string());
  }
  write_history_and_curves(path_, meta.history);
  point_latest_link(path_);
  pause_if_testing_at(kEpochCommittedPoint);
}

int RunFolder::repair(const Checkpoint& last) const {
  std::error_code error;
  for (fs::recursive_directory_iterator it(path_, error), end; !error && it != end; it.increment(error))
    if (it->is_regular_file() && it->path().extension() == ".tmp") {
      spdlog::info("removing {}, left by an interrupted write", it->path().string());
      fs::remove(it->path());
    }

  const History& history = last.meta.history;
  int best_held = 0;
  if (const EpochRecord* best = best_epoch(history)) {
    const fs::path best_file = path_ / kBestCheckpoint;
    const auto best_status = fs::status(best_file, error);
    if (fs::exists(best_status) && !fs::is_regular_file(best_status))
      throw Error(best_file.string() +
                  " is not a file (a folder or another special file): move it out of the run "
                  "folder, and resume again to rewrite it");
    int best_file_epoch = 0;
    try {
      if (fs::exists(best_file)) best_file_epoch = load_checkpoint(best_file, torch::kCPU).meta.epochs_done;
    } catch (const Error& e) {
      spdlog::warn("{}", e.what());
    }
    if (best_file_epoch != best->epoch) {
      if (best->epoch != last.meta.epochs_done)
        spdlog::warn("{} of epoch {} is lost; it now holds the last epoch, {}", best_file.string(), best->epoch,
                     last.meta.epochs_done);
      else
        spdlog::info("rewriting {} from {} (epoch {})", best_file.string(), kLastCheckpoint, best->epoch);
      Classifier weights = last.model;  // a handle: save_checkpoint reads the same module
      pause_if_testing_at(kBestCheckpoint);
      save_checkpoint(best_file, weights, {}, last.meta);
      best_file_epoch = last.meta.epochs_done;
    }
    best_held = best_file_epoch;
  }
  write_history_and_curves(path_, history);
  point_latest_link(path_);  // the interrupted commit may not have reached it
  return best_held;
}

bool RunFolder::discard_if_unused() {
  if (!created_ || fs::exists(path_ / kLastCheckpoint)) return false;
  std::error_code error;
  fs::remove_all(path_, error);
  return !error;
}

void point_latest_link(const fs::path& run_dir) {
  const fs::path runs = kRunsDir;
  std::error_code error;
  fs::create_directories(runs, error);
  const fs::path run = fs::weakly_canonical(run_dir, error);
  const fs::path target =
      run.parent_path() == fs::weakly_canonical(runs, error) ? fs::path(run.filename()) : run;
  const fs::path link = runs / kLatestLink;
  const fs::path temporary = runs / (kTemporaryLatestPrefix + std::to_string(::getpid()));
  pause_if_testing_at(kLatestPoint);
  remove_orphaned_latest_links(runs);
  fs::remove(temporary, error);
  fs::create_directory_symlink(target, temporary, error);
  pause_if_testing_at(kLatestRenamePoint);
  if (!error) fs::rename(temporary, link, error);
  if (error) {
    fs::remove(temporary, error);
    spdlog::warn("could not point {} at {}: remove {} if it is not a link", link.string(), run_dir.string(),
                 link.string());
  }
}

fs::path resolve_checkpoint(const std::string& from_flag) {
  const fs::path given = from_flag.empty() ? fs::path(kRunsDir) / kLatestLink : fs::path(from_flag);
  std::error_code error;
  const bool run_folder = fs::is_directory(given, error);
  const fs::path file = run_folder ? given / kBestCheckpoint : given;
  const auto status = fs::status(file, error);
  // A run whose best.ckpt is gone still has its last epoch.
  if (run_folder && status.type() == fs::file_type::not_found && fs::is_regular_file(given / kLastCheckpoint)) {
    spdlog::warn("{} is missing: using {}, the run's last epoch (which may not be its best)", file.string(),
                 (given / kLastCheckpoint).string());
    return given / kLastCheckpoint;
  }
  // Anything there (a FIFO, a folder, a link loop) is for the loader to
  // refuse with its own reason: only a missing file "does not exist".
  if (status.type() != fs::file_type::not_found) return file;
  if (from_flag.empty())
    throw Error("no checkpoint given and " + file.string() +
                " does not exist: run `catdog train` first, or pass --checkpoint FILE|RUN_FOLDER");
  throw Error("checkpoint " + file.string() +
              " does not exist: pass a best.ckpt / last.ckpt or a run folder written by `catdog train` "
              "(run `catdog train` first)");
}

nlohmann::json read_settings(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw Error("cannot read " + file.string() + ": pass a run's " + kSettingsFile);
  const nlohmann::json settings = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!settings.is_object())
    throw Error(file.string() + " is not a JSON object: pass a run's " + kSettingsFile +
                " (written by `catdog train`)");
  return settings;
}

std::string recorded_data_dir(const nlohmann::json& settings) {
  if (!settings.is_object()) return "";
  const auto dir = settings.find("data_dir");
  return dir != settings.end() && dir->is_string() ? dir->get<std::string>() : "";
}

Checkpoint load_run_checkpoint(const fs::path& file, torch::Device device) {
  try {
    return load_checkpoint(file, device);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + ": pass a " + kBestCheckpoint + " or " + kLastCheckpoint +
                " written by `catdog train`, or train again");
  }
}

}  // namespace catdog::app
