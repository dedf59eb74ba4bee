// Kill tests: the built `catdog train` killed with SIGKILL at random moments
// and at each commit point of its run folder (kCommitPoints, reached through
// the CATDOG_TEST_PAUSE_AT hook) must leave a folder whose files all read
// back, and `--resume` must then finish it into exactly the run that an
// uninterrupted process makes. CATDOG_KILL_TEST_SEED=N draws other moments.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "catdog/app/run_folder.h"
#include "catdog/store/checkpoint.h"
#include "test_support.h"

extern char** environ;

namespace catdog::app {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using testing::TempDir;
using testing::read_text;

constexpr int kEpochs = 2;
constexpr int kRandomKills = 30;

// One `catdog train` of the shared tiny dataset into `work`/run, started in
// `work` (so its runs/latest lands there), stdout and stderr appended to
// `work`/log. Killed and reaped on destruction if still there.
class TrainProcess {
 public:
  TrainProcess(const fs::path& work, const fs::path& data, const std::string& mode, const std::string& pause_at = "")
      : log_(announce(work / "log", mode, pause_at)), child_(arguments(data, mode), options(work, pause_at)) {}

  // True when the process stopped itself at its pause point, false when it ended.
  bool stopped() { return child_.stopped(); }
  // Lets the process pass its pause point occurrence - 1 times: true when it
  // stopped there once more, false when it ended first.
  bool stopped_at(int occurrence) {
    for (int seen = 1; stopped(); ++seen) {
      if (seen == occurrence) return true;
      child_.kill(SIGCONT);
    }
    return false;
  }
  // Waits until `file` exists (true) or the process ended (false).
  bool wait_for(const fs::path& file) {
    while (!fs::exists(file)) {
      if (child_.ended()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }
  // Kills the process at `moment` unless it ends first: true when the kill ended it.
  bool kill_at(Clock::time_point moment) {
    while (Clock::now() < moment) {
      if (child_.ended()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return kill();
  }
  // SIGKILL (harmless when it already ended) and reap: true when the kill ended it.
  bool kill() { return child_.kill(SIGKILL); }
  // Sends `signal` (not reaped: see Child::kill).
  void signal(int signal) { child_.kill(signal); }
  // Exit code, -1 for a signal.
  int exit_code() {
    const int code = child_.wait();
    return code > 128 ? -1 : code;
  }
  // Exit code, 128 + the signal that killed it.
  int raw_exit_code() { return child_.wait(); }
  std::string log() const { return read_text(log_); }

 private:
  // The command, in the log before anything it writes there.
  static fs::path announce(const fs::path& log, const std::string& mode, const std::string& pause_at) {
    std::ofstream(log, std::ios::app) << "$ " << (pause_at.empty() ? "" : "CATDOG_TEST_PAUSE_AT='" + pause_at + "' ")
                                      << "catdog train " << mode << "\n";
    return log;
  }
  static std::vector<std::string> arguments(const fs::path& data, const std::string& mode) {
    std::vector<std::string> arguments = {testing::catdog_binary().string(), "-q", "--threads", "1", "train",
                                          "--epochs", std::to_string(kEpochs), "--batch-size", "8", "--data",
                                          data.string(), "--out", "run", "--no-test"};
    if (!mode.empty()) arguments.push_back(mode);
    return arguments;
  }
  static testing::ChildOptions options(const fs::path& work, const std::string& pause_at) {
    testing::ChildOptions options;
    options.environment = {pause_at.empty() ? "CATDOG_TEST_PAUSE_AT" : "CATDOG_TEST_PAUSE_AT=" + pause_at};
    options.cwd = work;
    options.out = options.err = work / "log";
    options.append = true;
    return options;
  }

  fs::path log_;
  testing::Child child_;
};

// What an uninterrupted run leaves, compared bit for bit.
struct RunResult {
  std::vector<torch::Tensor> last_weights, optimizer_state, best_weights;
  int best_epoch = 0;
  History history;
};

std::vector<torch::Tensor> all_weights(const Classifier& model) {
  auto weights = model->parameters();
  for (const auto& buffer : model->buffers()) weights.push_back(buffer);
  return weights;
}

RunResult read_run(const fs::path& run) {
  const Checkpoint last = load_checkpoint(run / kLastCheckpoint, torch::kCPU);
  const Checkpoint best = load_checkpoint(run / kBestCheckpoint, torch::kCPU);
  return {all_weights(last.model), last.optimizer_state, all_weights(best.model), best.meta.epochs_done,
          last.meta.history};
}

void expect_same_tensors(const std::vector<torch::Tensor>& expected, const std::vector<torch::Tensor>& actual,
                         const char* what) {
  ASSERT_EQ(expected.size(), actual.size()) << what;
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_TRUE(torch::equal(expected[i], actual[i])) << what << " tensor " << i << " differs";
}

// Every number but the time an epoch took.
void expect_same_history(const History& expected, const History& actual, const char* what) {
  ASSERT_EQ(expected.size(), actual.size()) << what;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(expected[i].epoch, actual[i].epoch) << what;
    EXPECT_EQ(expected[i].loss, actual[i].loss) << what << " epoch " << i + 1;
    EXPECT_EQ(expected[i].accuracy, actual[i].accuracy) << what << " epoch " << i + 1;
    EXPECT_EQ(expected[i].val_loss, actual[i].val_loss) << what << " epoch " << i + 1;
    EXPECT_EQ(expected[i].val_accuracy, actual[i].val_accuracy) << what << " epoch " << i + 1;
  }
}

// The epochs of history.csv, checking that every row has the header's fields.
std::vector<int> csv_epochs(const fs::path& file) {
  std::istringstream in(read_text(file));
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header.rfind("epoch,", 0), 0u) << file << ": " << header;
  std::vector<int> epochs;
  for (std::string row; std::getline(in, row);) {
    EXPECT_EQ(std::count(row.begin(), row.end(), ','), std::count(header.begin(), header.end(), ',')) << row;
    epochs.push_back(std::stoi(row));
  }
  return epochs;
}

// A history file may be one epoch behind last.ckpt (killed before it was
// rewritten): the epochs it holds are last.ckpt's first ones.
void expect_history_within_one_epoch(const std::vector<int>& epochs, int epochs_done, const fs::path& file) {
  EXPECT_GE(static_cast<int>(epochs.size()), epochs_done - 1) << file;
  EXPECT_LE(static_cast<int>(epochs.size()), epochs_done) << file;
  for (size_t i = 0; i < epochs.size(); ++i) EXPECT_EQ(epochs[i], static_cast<int>(i) + 1) << file;
}

// What any kill may leave in `work`: every file present reads back and
// agrees with last.ckpt (a .tmp from an interrupted write is allowed).
// Returns where the kill landed, for the random test's tally.
std::string expect_readable_after_kill(const fs::path& work) {
  const fs::path run = work / "run";
  bool writing = false;
  for (const auto& entry : fs::recursive_directory_iterator(work)) writing |= entry.path().extension() == ".tmp";
  const std::string cut_short = writing ? ", a write cut short" : "";
  const fs::path settings = run / kSettingsFile;
  if (fs::exists(settings)) {
    const std::string text = read_text(settings);
    EXPECT_FALSE(nlohmann::json::parse(text, nullptr, false).is_discarded()) << settings << ": " << text;
  }
  if (!fs::exists(run / kLastCheckpoint)) {
    EXPECT_FALSE(fs::exists(run / kBestCheckpoint)) << "best.ckpt without last.ckpt";
    EXPECT_FALSE(fs::exists(work / kRunsDir / kLatestLink)) << "runs/latest moved before an epoch was committed";
    return "no epoch committed" + cut_short;
  }
  std::optional<Checkpoint> last;
  try {
    last = load_checkpoint(run / kLastCheckpoint, torch::kCPU);
  } catch (const Error& e) {
    ADD_FAILURE() << e.what();
    return "an unreadable last.ckpt";
  }
  const int epochs_done = last->meta.epochs_done;
  if (fs::exists(run / kBestCheckpoint)) {
    try {
      EXPECT_LE(load_checkpoint(run / kBestCheckpoint, torch::kCPU).meta.epochs_done, epochs_done);
    } catch (const Error& e) {
      ADD_FAILURE() << e.what();
    }
  }
  if (fs::exists(run / kHistoryJson)) {
    std::vector<int> epochs;
    try {
      for (const auto& record : history_from_json(nlohmann::json::parse(read_text(run / kHistoryJson))))
        epochs.push_back(record.epoch);
    } catch (const std::exception& e) {
      ADD_FAILURE() << kHistoryJson << ": " << e.what();
    }
    expect_history_within_one_epoch(epochs, epochs_done, run / kHistoryJson);
  }
  if (fs::exists(run / kHistoryCsv))
    expect_history_within_one_epoch(csv_epochs(run / kHistoryCsv), epochs_done, run / kHistoryCsv);
  // runs/latest, once there, always names a run with a checkpoint.
  const fs::path latest = work / kRunsDir / kLatestLink;
  if (fs::is_symlink(latest)) {
    if (fs::exists(latest)) {
      EXPECT_EQ(fs::canonical(latest), fs::canonical(run));
    } else {
      ADD_FAILURE() << "runs/latest leads nowhere";
    }
  }
  return "last.ckpt of epoch " + std::to_string(epochs_done) + cut_short;
}

// A run killed before its first epoch ended has nothing to resume: --resume says what to do.
void expect_resume_refused(const fs::path& work, const fs::path& data) {
  TrainProcess resume(work, data, "--resume");
  EXPECT_EQ(resume.exit_code(), 1);
  EXPECT_NE(resume.log().find("start it again with --exist-ok"), std::string::npos) << resume.log();
}

// Finishes a killed run as a user would (--resume; a run killed before its
// first epoch ended is started again with --exist-ok) and expects the
// uninterrupted run, with nothing left of the interruption.
void expect_finished_like(const fs::path& work, const fs::path& data, const RunResult& reference) {
  const bool resumable = fs::exists(work / "run" / kLastCheckpoint);
  {
    TrainProcess again(work, data, resumable ? "--resume" : "--exist-ok");
    ASSERT_EQ(again.exit_code(), 0) << again.log();
  }
  const RunResult finished = read_run(work / "run");
  expect_same_tensors(reference.last_weights, finished.last_weights, "last.ckpt weights");
  expect_same_tensors(reference.optimizer_state, finished.optimizer_state, "last.ckpt optimizer state");
  expect_same_tensors(reference.best_weights, finished.best_weights, "best.ckpt weights");
  EXPECT_EQ(reference.best_epoch, finished.best_epoch);
  expect_same_history(reference.history, finished.history, "last.ckpt history");
  expect_same_history(reference.history,
                      history_from_json(nlohmann::json::parse(read_text(work / "run" / kHistoryJson))),
                      "history.json");
  EXPECT_EQ(csv_epochs(work / "run" / kHistoryCsv).size(), reference.history.size());
  EXPECT_TRUE(fs::is_regular_file(work / "run" / kCurvesPng));
  const fs::path latest = work / kRunsDir / kLatestLink;
  ASSERT_TRUE(fs::exists(latest)) << "runs/latest does not lead to the run";
  EXPECT_EQ(fs::canonical(latest), fs::canonical(work / "run"));
  for (const auto& entry : fs::recursive_directory_iterator(work)) {
    const std::string name = entry.path().filename().string();
    EXPECT_NE(entry.path().extension(), ".tmp") << "left behind: " << entry.path();
    EXPECT_NE(name.rfind(".latest-", 0), 0u) << "left behind: " << entry.path();
  }
}

class Kill : public ::testing::Test {
 protected:
  // A tiny dataset (10 images: 8 train, 1 validation) and its uninterrupted
  // run, whose moments the random kills are drawn from.
  void SetUp() override {
    testing::write_synthetic_dataset(data(), 5);
    const fs::path work = dir_ / "reference";
    fs::create_directories(work);
    TrainProcess run(work, data(), "");
    ASSERT_TRUE(run.wait_for(work / "run" / kSettingsFile)) << run.log();
    const auto settings_written = Clock::now();
    ASSERT_EQ(run.exit_code(), 0) << run.log();
    after_settings_ = Clock::now() - settings_written;
    reference_ = read_run(work / "run");
    ASSERT_EQ(reference_.history.size(), static_cast<size_t>(kEpochs));
  }
  fs::path data() const { return dir_ / "data"; }
  // A fresh folder to run in, named after what is tried there.
  fs::path work(const std::string& name) const {
    const fs::path folder = dir_ / name;
    fs::remove_all(folder);
    fs::create_directories(folder);
    return folder;
  }

  TempDir dir_;
  RunResult reference_;
  Clock::duration after_settings_{};
};

// Random moments after the run folder is set up (settings.json written):
// scanning, training, validation and every write of every epoch.
TEST_F(Kill, AtRandomMomentsTheRunResumesIntoTheUninterruptedOne) {
  const char* seed_variable = std::getenv("CATDOG_KILL_TEST_SEED");
  const uint64_t seed = seed_variable != nullptr ? std::strtoull(seed_variable, nullptr, 10) : 20260101;
  std::mt19937_64 random(seed);
  std::uniform_real_distribution<double> fraction_of_run(0.0, 1.0);
  // Moments are drawn from the reference run's time after settings.json,
  // shortened to a victim's whenever one finishes first (the load changed).
  Clock::duration span = after_settings_;
  int killed = 0, attempts = 0;
  std::map<std::string, int> outcomes;
  for (; killed < kRandomKills && attempts < 2 * kRandomKills; ++attempts) {
    const double fraction = fraction_of_run(random);
    const auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(span * fraction);
    SCOPED_TRACE("CATDOG_KILL_TEST_SEED=" + std::to_string(seed) + ", attempt " + std::to_string(attempts) +
                 ": killed " + std::to_string(delay.count()) + " ms after settings.json appeared (" +
                 std::to_string(fraction) + " of the span)");
    const fs::path folder = work("random");
    bool was_killed = false;
    {
      TrainProcess victim(folder, data(), "");
      ASSERT_TRUE(victim.wait_for(folder / "run" / kSettingsFile)) << victim.log();
      const auto settings_written = Clock::now();
      was_killed = victim.kill_at(settings_written + delay);
      if (!was_killed) {
        EXPECT_EQ(victim.exit_code(), 0) << victim.log();
        span = std::min(span, Clock::now() - settings_written);
      }
    }
    const std::string outcome = expect_readable_after_kill(folder);
    if (was_killed) {
      ++killed;
      // Once is enough for the message (each --resume costs a process start).
      if (!fs::exists(folder / "run" / kLastCheckpoint) && outcomes.count(outcome) == 0)
        expect_resume_refused(folder, data());
      ++outcomes[outcome];
      expect_finished_like(folder, data(), reference_);
    }
    if (HasFailure()) FAIL() << "log of the runs in " << folder << ":\n" << read_text(folder / "log");
  }
  std::cout << "seed " << seed << ": " << killed << " kills in " << attempts
            << " runs (the others finished first); the kills left:\n";
  for (const auto& [outcome, count] : outcomes) std::cout << "  " << count << " x " << outcome << "\n";
  EXPECT_EQ(killed, kRandomKills);
}

// At each commit point: in the first epoch, in the --resume after it (its
// repair or its next epoch), and at the point's second occurrence in the
// --resume after that (the second epoch's commit, past the repair).
TEST_F(Kill, AtEachCommitPointTheRunResumesIntoTheUninterruptedOne) {
  for (const char* point : kCommitPoints) {
    SCOPED_TRACE(std::string("CATDOG_TEST_PAUSE_AT=") + point);
    const fs::path folder = work("point");
    std::string outcomes;
    for (const int occurrence : {1, 1, 2}) {
      const bool resumable = fs::exists(folder / "run" / kLastCheckpoint);
      const bool fresh = outcomes.empty();
      TrainProcess victim(folder, data(), fresh ? "" : resumable ? "--resume" : "--exist-ok", point);
      if (victim.stopped_at(occurrence)) {
        ASSERT_TRUE(victim.kill());
        outcomes += "; killed at occurrence " + std::to_string(occurrence) + ": ";
      } else {
        // Only the first run must get there: a resumed run passes best.ckpt by after
        // an epoch that is not the best, and one with no epoch left meets no epoch's point.
        ASSERT_FALSE(fresh) << "the run never reached " << point << ":\n" << victim.log();
        ASSERT_EQ(victim.exit_code(), 0) << victim.log();
        outcomes += "; finished: ";
      }
      outcomes += expect_readable_after_kill(folder);
    }
    std::cout << point << outcomes << "\n";
    expect_finished_like(folder, data(), reference_);
    if (HasFailure()) FAIL() << "log of the runs in " << folder << ":\n" << read_text(folder / "log");
  }
}

// Ctrl+C (SIGINT, here sent while the process is paused after its first
// epoch's commit) stops training at the next step: one line saying where and
// how to go on, exit 130, and --resume then finishes the uninterrupted run.
TEST_F(Kill, CtrlCLeavesAResumableRunAndSaysHowToContinue) {
  const fs::path folder = work("interrupt");
  {
    TrainProcess victim(folder, data(), "", kEpochCommittedPoint);
    ASSERT_TRUE(victim.stopped()) << victim.log();
    victim.signal(SIGINT);  // pending until the process runs again
    victim.signal(SIGCONT);
    EXPECT_EQ(victim.raw_exit_code(), 130) << victim.log();
    // One line of its own, after the tiny dataset's warnings.
    const auto lines = testing::lines_of(victim.log());
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines.back(), "catdog: interrupted at epoch 2, batch 0: continue with catdog train --out run --resume")
        << victim.log();
    EXPECT_EQ(std::count_if(lines.begin(), lines.end(), [](const std::string& line) { return line.rfind("catdog:", 0) == 0; }), 1)
        << victim.log();
  }
  expect_readable_after_kill(folder);
  expect_finished_like(folder, data(), reference_);
}

}  // namespace
}  // namespace catdog::app
