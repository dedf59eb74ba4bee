// The application's run folders: names, locking, commit order, repair, and
// resolving --checkpoint.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <vector>

#include <gmock/gmock.h>
#include <torch/torch.h>

#include "catdog/app/run_folder.h"
#include "catdog/base/error.h"
#include "test_support.h"

namespace catdog::app {
namespace {

namespace fs = std::filesystem;
using testing::in_directory;
using testing::TempDir;

CheckpointMeta meta_after(int epochs, const std::vector<double>& val_accuracies) {
  CheckpointMeta meta;
  meta.image_size = 160;
  for (int epoch = 1; epoch <= epochs; ++epoch)
    meta.history.push_back({epoch, 0.5, 0.5, 0.5, val_accuracies[static_cast<size_t>(epoch - 1)], 1.0});
  meta.epochs_done = epochs;
  return meta;
}

TEST(RunFolder, DefaultNamesAreCreatedExclusively) {
  TempDir dir;
  const auto first = RunFolder::create_default(dir / "runs", "scratch");
  const auto second = RunFolder::create_default(dir / "runs", "scratch");
  EXPECT_NE(first.path(), second.path());
  EXPECT_EQ(first.path().filename().string().rfind("scratch-", 0), 0u) << first.path();
  // Started in the same second: the second gets a -2 (or a later timestamp).
  EXPECT_TRUE(fs::is_directory(first.path()));
  EXPECT_TRUE(fs::is_directory(second.path()));
}

// Whether another process (flock locks belong to open files, so a fork's own
// open is a second holder) opening `run` in each of `modes` is refused with
// this process's PID.
bool refused_with_our_pid(const fs::path& run, const std::vector<OpenMode>& modes) {
  const pid_t child = fork();
  if (child < 0) return false;
  if (child == 0) {
    bool all_named = true;
    for (const OpenMode mode : modes) {
      const std::string message = testing::error_of([&] { RunFolder::open(run, mode); });
      all_named = all_named && message.find("in use by PID " + std::to_string(getppid())) != std::string::npos;
    }
    _exit(all_named ? 0 : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(RunFolder, ASecondHolderIsRefusedWithThePid) {
  TempDir dir;
  const auto held = RunFolder::open(dir / "run", OpenMode::New);
  EXPECT_TRUE(refused_with_our_pid(dir / "run", {OpenMode::ExistOk}))
      << "the child was not refused with the holder's PID";
}

// Issue 22, item 17: a live run before its first epoch ends is "in use",
// not "stopped before its first epoch", for --resume as for the rest.
TEST(RunFolder, ResumingALiveRunBeforeItsFirstEpochNamesItsPid) {
  TempDir dir;
  const auto held = RunFolder::open(dir / "run", OpenMode::New);
  held.write_settings({{"epochs", 3}});
  EXPECT_TRUE(refused_with_our_pid(dir / "run", {OpenMode::Resume, OpenMode::New, OpenMode::ExistOk}))
      << "a mode did not name the holder's PID";
}

// Issue 22, item 9: a run folder never records a value its reader refuses.
TEST(RunFolder, SettingsWithANonFiniteNumberAreNeverWritten) {
  TempDir dir;
  const auto folder = RunFolder::open(dir / "run", OpenMode::New);
  for (const double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    const nlohmann::json settings = {{"epochs", 3}, {"label_smoothing", bad}};
    EXPECT_THAT(testing::error_of([&] { folder.write_settings(settings); }),
                ::testing::MatchesRegex(
                    "cannot record label_smoothing \\((nan|inf)\\) in settings\\.json: not a finite number.*"));
    EXPECT_FALSE(fs::exists(folder.file(kSettingsFile)));
  }
  folder.write_settings({{"epochs", 3}, {"label_smoothing", 0.1}});
  EXPECT_TRUE(fs::exists(folder.file(kSettingsFile)));
}

TEST(RunFolder, AFolderIsFreeAgainWhenItsHolderIsGone) {
  TempDir dir;
  { const auto held = RunFolder::open(dir / "run", OpenMode::New); }
  EXPECT_NO_THROW(RunFolder::open(dir / "run", OpenMode::ExistOk));
}

TEST(RunFolder, AnExistingRunNeedsResumeOrExistOk) {
  TempDir dir;
  fs::create_directories(dir / "run");
  std::ofstream(dir / "run" / kSettingsFile) << "{}";
  std::ofstream(dir / "run" / kLastCheckpoint) << "a checkpoint";
  const auto message = testing::error_of([&] { RunFolder::open(dir / "run", OpenMode::New); });
  EXPECT_NE(message.find("--resume"), std::string::npos) << message;
  EXPECT_NE(message.find("--exist-ok"), std::string::npos) << message;
  EXPECT_NO_THROW(RunFolder::open(dir / "run", OpenMode::ExistOk));
  EXPECT_FALSE(fs::exists(dir / "run" / kSettingsFile));  // the old run's files are gone
  EXPECT_FALSE(fs::exists(dir / "run" / kLastCheckpoint));
  // Resume needs a checkpoint to continue from.
  EXPECT_NE(testing::error_of([&] { RunFolder::open(dir / "run", OpenMode::Resume); }).find(kLastCheckpoint),
            std::string::npos);
  // An empty folder is as good as a new one.
  fs::create_directories(dir / "empty");
  EXPECT_NO_THROW(RunFolder::open(dir / "empty", OpenMode::New));
}

TEST(RunFolder, CommitWritesEveryFileAndPointsLatestAtTheRun) {
  TempDir dir;
  in_directory(dir.path(), [&] {
    fs::create_directories("elsewhere");
    auto folder = RunFolder::open("elsewhere/run", OpenMode::New);
    Classifier model(ModelKind::Scratch);
    folder.commit_epoch(model, {}, meta_after(1, {0.5}), true);
    for (const char* name : {kLastCheckpoint, kBestCheckpoint, kHistoryJson, kHistoryCsv, kCurvesPng})
      EXPECT_TRUE(fs::is_regular_file(folder.file(name))) << name;
    // Outside runs/: an absolute link, so runs/latest works whatever --out was.
    EXPECT_EQ(fs::read_symlink(fs::path(kRunsDir) / kLatestLink), fs::canonical("elsewhere/run"));

    auto in_runs = RunFolder::create_default(kRunsDir, "scratch");
    in_runs.commit_epoch(model, {}, meta_after(1, {0.5}), true);
    EXPECT_EQ(fs::read_symlink(fs::path(kRunsDir) / kLatestLink), in_runs.path().filename());
  });
}

// predict's cold start reads best.ckpt: the optimizer state lives in last.ckpt only.
TEST(RunFolder, BestCheckpointCarriesWeightsWithoutOptimizerState) {
  TempDir dir;
  auto folder = RunFolder::open(dir / "run", OpenMode::New);
  Classifier model(ModelKind::Scratch);
  std::vector<torch::Tensor> optimizer_state;
  for (const auto& parameter : model->trainable_parameters()) optimizer_state.push_back(torch::rand_like(parameter));
  folder.commit_epoch(model, optimizer_state, meta_after(1, {0.5}), true);
  const auto last = load_checkpoint(folder.file(kLastCheckpoint), torch::kCPU);
  const auto best = load_checkpoint(folder.file(kBestCheckpoint), torch::kCPU);
  EXPECT_EQ(last.optimizer_state.size(), optimizer_state.size());
  EXPECT_TRUE(best.optimizer_state.empty());
  EXPECT_LT(fs::file_size(folder.file(kBestCheckpoint)), fs::file_size(folder.file(kLastCheckpoint)) * 6 / 10);
  const auto best_parameters = best.model->parameters(), last_parameters = last.model->parameters();
  ASSERT_EQ(best_parameters.size(), last_parameters.size());
  for (size_t i = 0; i < best_parameters.size(); ++i) EXPECT_TRUE(best_parameters[i].equal(last_parameters[i]));
}

TEST(RunFolder, AFolderWithoutEpochsIsDiscardedButNotAnother) {
  TempDir dir;
  auto fresh = RunFolder::create_default(dir / "runs", "scratch");
  fresh.discard_if_unused();
  EXPECT_FALSE(fs::exists(fresh.path()));

  fs::create_directories(dir / "mine");
  std::ofstream(dir / "mine" / "notes.txt") << "keep me";
  auto given = RunFolder::open(dir / "mine", OpenMode::ExistOk);
  given.discard_if_unused();
  EXPECT_TRUE(fs::exists(dir / "mine" / "notes.txt"));
}

TEST(RunFolder, RepairRebuildsBestHistoryAndRemovesTemporaries) {
  TempDir dir;
  auto folder = RunFolder::open(dir / "run", OpenMode::New);
  Classifier model(ModelKind::Scratch);
  folder.commit_epoch(model, {}, meta_after(1, {0.5}), true);
  // Killed after last.ckpt of epoch 2 (the best) was written, before best.ckpt and the history:
  save_checkpoint(folder.file(kLastCheckpoint), model, {}, meta_after(2, {0.5, 0.9}));
  std::ofstream(folder.file(kLastCheckpoint).string() + ".tmp") << "half a file";
  fs::create_directories(folder.file(kFeaturesDir));
  std::ofstream(folder.file(kFeaturesDir) / "train.pt.tmp") << "half a file";
  // ... and a history one epoch ahead of it, from another kill.
  std::ofstream(folder.file(kHistoryCsv))
      << "epoch,loss,accuracy,val_loss,val_accuracy,seconds\n1,0,0,0,0,0\n2,0,0,0,0,0\n3,0,0,0,0,0\n";

  folder.repair(load_checkpoint(folder.file(kLastCheckpoint), torch::kCPU));
  EXPECT_EQ(load_checkpoint(folder.file(kBestCheckpoint), torch::kCPU).meta.epochs_done, 2);
  std::ifstream csv(folder.file(kHistoryCsv));
  const std::string text((std::istreambuf_iterator<char>(csv)), std::istreambuf_iterator<char>());
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3) << text;  // header + 2 epochs
  EXPECT_FALSE(fs::exists(folder.file(kLastCheckpoint).string() + ".tmp"));
  EXPECT_FALSE(fs::exists(folder.file(kFeaturesDir) / "train.pt.tmp"));
}

TEST(RunFolder, RepairKeepsABestCheckpointThatIsStillTheBest) {
  TempDir dir;
  auto folder = RunFolder::open(dir / "run", OpenMode::New);
  Classifier model(ModelKind::Scratch);
  folder.commit_epoch(model, {}, meta_after(1, {0.9}), true);
  folder.commit_epoch(model, {}, meta_after(2, {0.9, 0.5}), false);
  folder.repair(load_checkpoint(folder.file(kLastCheckpoint), torch::kCPU));
  EXPECT_EQ(load_checkpoint(folder.file(kBestCheckpoint), torch::kCPU).meta.epochs_done, 1);
}

// A run killed before its first epoch ended leaves settings.json and no
// last.ckpt: --resume cannot continue it, so both messages lead to --exist-ok.
TEST(RunFolder, ARunStoppedBeforeItsFirstEpochIsStartedAgainWithExistOk) {
  TempDir dir;
  fs::create_directories(dir / "run");
  std::ofstream(dir / "run" / kSettingsFile) << "{}";
  for (const OpenMode mode : {OpenMode::New, OpenMode::Resume}) {
    const auto message = testing::error_of([&] { RunFolder::open(dir / "run", mode); });
    EXPECT_NE(message.find("stopped before its first epoch ended"), std::string::npos) << message;
    EXPECT_NE(message.find("--exist-ok"), std::string::npos) << message;
    EXPECT_EQ(message.find("--resume"), std::string::npos) << message;
  }
}

// A kill during the last epoch's commit, before runs/latest moved: --resume
// has no epoch left to commit, so the repair points the link.
TEST(RunFolder, RepairPointsLatestAtTheRun) {
  TempDir dir;
  in_directory(dir.path(), [&] {
    auto folder = RunFolder::open("run", OpenMode::New);
    Classifier model(ModelKind::Scratch);
    folder.commit_epoch(model, {}, meta_after(1, {0.5}), true);
    fs::remove(fs::path(kRunsDir) / kLatestLink);
    folder.repair(load_checkpoint(folder.file(kLastCheckpoint), torch::kCPU));
    EXPECT_EQ(fs::canonical(fs::path(kRunsDir) / kLatestLink), fs::canonical("run"));
  });
}

// A kill between making runs/.latest-<pid> and renaming it over runs/latest.
TEST(RunFolder, TheTemporaryLatestLinkOfAKilledProcessIsRemoved) {
  TempDir dir;
  const pid_t gone = fork();
  if (gone == 0) _exit(0);
  waitpid(gone, nullptr, 0);
  in_directory(dir.path(), [&] {
    fs::create_directories(kRunsDir);
    const fs::path orphan = fs::path(kRunsDir) / (".latest-" + std::to_string(gone));
    const fs::path held = fs::path(kRunsDir) / (".latest-" + std::to_string(getppid()));  // a live process's
    fs::create_directory_symlink("elsewhere", orphan);
    fs::create_directory_symlink("elsewhere", held);
    fs::create_directories("run");
    point_latest_link("run");
    EXPECT_FALSE(fs::is_symlink(orphan));
    EXPECT_TRUE(fs::is_symlink(held));
    EXPECT_EQ(fs::canonical(fs::path(kRunsDir) / kLatestLink), fs::canonical("run"));
  });
}

// Issue 10 item 5: whatever its numbers, a run folder stays loadable.
TEST(RunFolder, ARunWithNonFiniteNumbersStaysLoadable) {
  TempDir dir;
  auto folder = RunFolder::open(dir / "run", OpenMode::New);
  Classifier model(ModelKind::Scratch);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto meta = meta_after(2, {0.5, nan});
  meta.history[1].loss = std::numeric_limits<double>::infinity();
  folder.commit_epoch(model, {}, meta, false);
  const auto last = load_checkpoint(folder.file(kLastCheckpoint), torch::kCPU);
  EXPECT_TRUE(std::isnan(last.meta.history[1].val_accuracy));
  EXPECT_TRUE(std::isinf(last.meta.history[1].loss));
  std::ifstream json(folder.file(kHistoryJson));
  EXPECT_EQ(history_from_json(nlohmann::json::parse(json)).size(), 2u);
  EXPECT_NO_THROW(folder.repair(last));
}

TEST(ResolveCheckpoint, FileFolderAndLatestRun) {
  TempDir dir;
  fs::create_directories(dir / "runs" / "scratch-1");
  Classifier model(ModelKind::Scratch);
  save_checkpoint(dir / "runs" / "scratch-1" / "best.ckpt", model, {}, meta_after(1, {0.5}));
  fs::create_directory_symlink("scratch-1", dir / "runs" / "latest");

  EXPECT_EQ(resolve_checkpoint((dir / "runs" / "scratch-1" / "best.ckpt").string()),
            dir / "runs" / "scratch-1" / "best.ckpt");
  EXPECT_EQ(resolve_checkpoint((dir / "runs" / "scratch-1").string()), dir / "runs" / "scratch-1" / "best.ckpt");
  in_directory(dir.path(), [] { EXPECT_EQ(resolve_checkpoint(""), fs::path("runs") / "latest" / "best.ckpt"); });
  EXPECT_THAT(testing::error_of([&] { resolve_checkpoint((dir / "runs" / "nope.ckpt").string()); }),
              ::testing::StartsWith("checkpoint " + (dir / "runs" / "nope.ckpt").string() + " does not exist: pass a best.ckpt"));
}

// The library says what is wrong with the file; the app says what to pass instead.
TEST(ResolveCheckpoint, ADamagedCheckpointSaysWhatToPassInstead) {
  TempDir dir;
  std::ofstream(dir / "best.ckpt") << "not a checkpoint";
  EXPECT_THAT(testing::error_of([&] { load_run_checkpoint(dir / "best.ckpt", torch::kCPU); }),
              ::testing::AllOf(::testing::StartsWith((dir / "best.ckpt").string() + " is not a catdog checkpoint ("),
                               ::testing::EndsWith("): pass a best.ckpt or last.ckpt written by `catdog train`, or "
                                                   "train again")));
}

// Issue 22, item 20: a run whose best.ckpt is gone is still usable.
TEST(ResolveCheckpoint, ARunWithoutItsBestCheckpointFallsBackToTheLastWithAWarning) {
  TempDir dir;
  fs::create_directories(dir / "run");
  Classifier model(ModelKind::Scratch);
  save_checkpoint(dir / "run" / kLastCheckpoint, model, {}, meta_after(1, {0.5}));
  testing::LogCapture log;
  EXPECT_EQ(resolve_checkpoint((dir / "run").string()), dir / "run" / kLastCheckpoint);
  EXPECT_NE(log.text().find("[warning] " + (dir / "run" / kBestCheckpoint).string() + " is missing: using " +
                            (dir / "run" / kLastCheckpoint).string()),
            std::string::npos)
      << log.text();
}

// Issue 22, item 19: what is there but is no checkpoint is named for what it is.
TEST(ResolveCheckpoint, AFifoALinkLoopAndAFolderAreNamedForWhatTheyAre) {
  TempDir dir;
  ASSERT_EQ(mkfifo((dir / "fifo.ckpt").c_str(), 0600), 0);
  fs::create_symlink("loop.ckpt", dir / "loop.ckpt");
  fs::create_directories(dir / "run" / kBestCheckpoint);
  const auto message = [](const fs::path& given) {
    return testing::error_of([&] { load_run_checkpoint(resolve_checkpoint(given.string()), torch::kCPU); });
  };
  EXPECT_THAT(message(dir / "fifo.ckpt"),
              ::testing::HasSubstr((dir / "fifo.ckpt").string() + ": a FIFO, not a regular file"));
  EXPECT_THAT(message(dir / "loop.ckpt"), ::testing::HasSubstr("Too many levels of symbolic links"));
  EXPECT_THAT(message(dir / "run"),
              ::testing::HasSubstr((dir / "run" / kBestCheckpoint).string() + ": a folder, not a regular file"));
  for (const auto& given : {dir / "fifo.ckpt", dir / "loop.ckpt", dir / "run"})
    EXPECT_THAT(message(given), ::testing::Not(::testing::HasSubstr("does not exist"))) << given;
}

// Issue 22, items 19 and 20: a folder in best.ckpt's place stops --resume with
// that cause; a best epoch whose weights are lost is not reported as kept.
TEST(RunFolder, RepairSaysWhichEpochBestHoldsAndRefusesAFolderInItsPlace) {
  TempDir dir;
  auto folder = RunFolder::open(dir / "run", OpenMode::New);
  Classifier model(ModelKind::Scratch);
  folder.commit_epoch(model, {}, meta_after(2, {0.5, 0.9}), true);
  save_checkpoint(folder.file(kLastCheckpoint), model, {}, meta_after(3, {0.5, 0.9, 0.6}));
  EXPECT_EQ(folder.repair(load_checkpoint(folder.file(kLastCheckpoint), torch::kCPU)), 2);
  fs::remove(folder.file(kBestCheckpoint));
  EXPECT_EQ(folder.repair(load_checkpoint(folder.file(kLastCheckpoint), torch::kCPU)), 3);
  fs::remove(folder.file(kBestCheckpoint));
  fs::create_directories(folder.file(kBestCheckpoint));
  EXPECT_THAT(testing::error_of([&] { folder.repair(load_checkpoint(folder.file(kLastCheckpoint), torch::kCPU)); }),
              ::testing::StartsWith(folder.file(kBestCheckpoint).string() + " is not a file (a folder"));
}

TEST(ResolveCheckpoint, NoRunYetSaysToTrainFirst) {
  TempDir dir;
  in_directory(dir.path(), [] {
    EXPECT_NE(testing::error_of([] { resolve_checkpoint(""); }).find("run `catdog train` first"), std::string::npos);
  });
}

}  // namespace
}  // namespace catdog::app
