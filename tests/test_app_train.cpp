// `catdog train` as the application runs it: run folders, resume, runs/latest, output.
#include <fstream>
#include <sstream>

#include <torch/torch.h>

#include "catdog/app/commands.h"
#include "catdog/app/run_folder.h"
#include "catdog/base/error.h"
#include "catdog/store/checkpoint.h"
#include "test_support.h"

namespace catdog::app {
namespace {

namespace fs = std::filesystem;
using testing::error_of;
using testing::in_directory;
using testing::TempDir;

class AppTrain : public ::testing::Test {
 protected:
  // Written once per process (removed at exit): JPEG writing would dominate.
  static fs::path small_dataset() {
    static const TempDir dir;
    static const bool written = (testing::write_synthetic_dataset(dir / "small", 20), true);
    (void)written;
    return dir / "small";
  }

  static TrainCommand command(const fs::path& out, int epochs) {
    TrainCommand command;
    command.data = small_dataset().string();
    command.out = out.string();
    command.epochs = epochs;
    command.progress = false;
    command.initial_eval_batches = 1;
    command.test = false;  // TrainEndsByTestingTheBestCheckpoint tests it
    return command;
  }
  std::string run(const TrainCommand& command) {
    std::ostringstream out;
    EXPECT_EQ(run_train(command, runtime_, out), kExitOk);
    return out.str();
  }

  Runtime runtime_;
};

nlohmann::json read_json(const fs::path& file) {
  std::ifstream in(file);
  return nlohmann::json::parse(in);
}

std::vector<torch::Tensor> trainable_weights(const fs::path& checkpoint) {
  return load_checkpoint(checkpoint, torch::kCPU).model->trainable_parameters();
}

void expect_same_trainable_weights(const fs::path& expected_checkpoint, const fs::path& actual_checkpoint) {
  const auto expected = trainable_weights(expected_checkpoint), actual = trainable_weights(actual_checkpoint);
  ASSERT_EQ(expected.size(), actual.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_TRUE(torch::equal(expected[i], actual[i])) << "parameter " << i;
}

TEST_F(AppTrain, DefaultRunFolderHoldsEverythingAndLatestPointsAtIt) {
  TempDir work;
  std::string printed;
  in_directory(work.path(), [&] {
    auto options = command("", 1);
    options.command_line = "catdog train --epochs 1";
    printed = run(options);
  });
  const fs::path runs = work / "runs";
  ASSERT_TRUE(fs::is_symlink(runs / "latest"));
  const fs::path run = runs / fs::read_symlink(runs / "latest");
  EXPECT_EQ(run.filename().string().rfind("scratch-", 0), 0u) << run;
  for (const char* name : {kHistoryCsv, kHistoryJson, kCurvesPng, kBestCheckpoint, kLastCheckpoint, kSettingsFile})
    EXPECT_TRUE(fs::is_regular_file(run / name)) << name;
  EXPECT_NE(printed.find("run folder: runs/" + run.filename().string()), std::string::npos) << printed;
  EXPECT_NE(printed.find("best epoch: 1 of 1, val_accuracy "), std::string::npos) << printed;

  const auto settings = read_json(run / kSettingsFile);
  EXPECT_EQ(settings["model"], "scratch");
  EXPECT_EQ(settings["epochs"], 1);
  EXPECT_EQ(settings["batch_size"], 32);
  EXPECT_EQ(settings["seed"], 42);
  EXPECT_EQ(settings["command_line"], "catdog train --epochs 1");
  EXPECT_EQ(settings["catdog_version"], CATDOG_VERSION);
  EXPECT_EQ(settings["device"], "cpu");
  EXPECT_EQ(settings["threads"], runtime_.threads);
  EXPECT_EQ(settings["precision"], "auto");
  EXPECT_EQ(settings["dataset_images"], 40);

  const auto best = load_checkpoint(run / kBestCheckpoint, torch::kCPU);
  EXPECT_EQ(best.meta.epochs_done, 1);
  EXPECT_EQ(best.meta.image_size, 160);
  EXPECT_EQ(best.meta.settings["dataset_fingerprint"], settings["dataset_fingerprint"]);
  EXPECT_EQ(best.meta.split_seed, kDefaultSplitSeed);
}

// Training ends with eval's table of best.ckpt on the test split, kept in
// test.json for serve; --json carries the same object.
TEST_F(AppTrain, TrainEndsByTestingTheBestCheckpoint) {
  TempDir dir;
  auto options = command(dir / "run", 1);
  options.test = true;
  const std::string printed = run(options);
  EXPECT_NE(printed.find("best epoch: 1 of 1"), std::string::npos) << printed;
  const auto test = read_json(dir / "run" / kTestResultFile);
  EXPECT_EQ(test["split"], "test");
  EXPECT_EQ(test["epoch"], 1);
  EXPECT_EQ(test["checkpoint"], (dir / "run" / kBestCheckpoint).string());
  EXPECT_GT(test["images"], 0);
  EvalCommand eval;
  eval.checkpoint = (dir / "run").string();
  eval.progress = false;
  std::ostringstream eval_out;
  run_eval(eval, runtime_, eval_out);
  const std::string table = eval_out.str().substr(0, eval_out.str().find("speed:"));  // all but the timing
  EXPECT_NE(printed.find("\n\n" + table), std::string::npos) << printed << "\n---\n" << table;

  auto json = command(dir / "json", 1);
  json.test = true;
  json.json = true;
  EXPECT_EQ(nlohmann::json::parse(run(json))["test"]["images"], test["images"]);
}

TEST_F(AppTrain, LatestFollowsARunWhateverItsOutFolder) {
  TempDir work;
  in_directory(work.path(), [&] { run(command(work / "elsewhere", 1)); });
  EXPECT_EQ(fs::canonical(work / "runs" / "latest"), fs::canonical(work / "elsewhere"));
}

TEST_F(AppTrain, AFailedStartLeavesNoFolderAndDoesNotMoveLatest) {
  TempDir work;
  in_directory(work.path(), [&] {
    run(command("", 1));
    const auto latest = fs::read_symlink("runs/latest");
    auto failing = command("", 1);
    failing.model = "vgg16";
    failing.weights = "absent.h5";
    const std::string message = error_of([&] {
      std::ostringstream out;
      run_train(failing, runtime_, out);
    });
    EXPECT_NE(message.find("--weights absent.h5: no such file"), std::string::npos) << message;
    EXPECT_EQ(fs::read_symlink("runs/latest"), latest);
    size_t folders = 0;
    for (const auto& entry : fs::directory_iterator("runs")) folders += entry.is_directory() && !entry.is_symlink();
    EXPECT_EQ(folders, 1u);
  });
}

// Issue 22, item 15: a run diverging in its first epoch says that its folder
// is gone, not that a checkpoint holds "epoch 0".
TEST_F(AppTrain, DivergingInTheFirstEpochSaysTheFolderWasRemoved) {
  TempDir work;
  auto diverging = command(work / "diverged", 1);
  diverging.learning_rate = 1e30;
  diverging.batch_size = 4;  // several steps in the first epoch: the second one's loss is no longer finite
  const std::string message = error_of([&] {
    std::ostringstream out;
    run_train(diverging, runtime_, out);
  });
  EXPECT_NE(message.find("the run diverged"), std::string::npos) << message;
  EXPECT_NE(message.find("no epoch was completed: run folder " + (work / "diverged").string() + " was removed"),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find("epoch 0"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(work / "diverged"));
}

TEST_F(AppTrain, ResumeContinuesBitForBit) {
  TempDir straight, resumed;
  run(command(straight / "run", 2));
  run(command(resumed / "run", 1));
  auto second_half = command(resumed / "run", 2);
  second_half.resume = true;
  runtime_.seed = 999;  // the run's own seed wins on resume
  run(second_half);

  expect_same_trainable_weights(straight / "run" / kLastCheckpoint, resumed / "run" / kLastCheckpoint);
  const auto meta = load_checkpoint(resumed / "run" / kLastCheckpoint, torch::kCPU).meta;
  EXPECT_EQ(meta.epochs_done, 2);
  const auto straight_history = load_checkpoint(straight / "run" / kLastCheckpoint, torch::kCPU).meta.history;
  ASSERT_EQ(meta.history.size(), 2u);
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(meta.history[i].val_loss, straight_history[i].val_loss);

  // A second stage's length on a run without one is an error, never ignored.
  auto longer = command(resumed / "run", 3);
  longer.resume = true;
  longer.fine_tune_epochs = 2;
  std::ostringstream out;
  EXPECT_NE(testing::error_of([&] { run_train(longer, runtime_, out); })
                .find("--fine-tune-epochs: run " + (resumed / "run").string() + " has no fine-tuning stage"),
            std::string::npos);
  EXPECT_EQ(load_checkpoint(resumed / "run" / kLastCheckpoint, torch::kCPU).meta.epochs_done, 2);
}

// A bf16 run resumed without --precision goes on in bf16: bit for bit the
// uninterrupted bf16 run.
TEST_F(AppTrain, ResumeKeepsTheRunsPrecision) {
  TempDir straight, resumed;
  runtime_.precision = Precision::Bf16;
  run(command(straight / "run", 2));
  run(command(resumed / "run", 1));
  auto second_half = command(resumed / "run", 2);
  second_half.resume = true;
  runtime_.precision = Precision::Auto;
  run(second_half);
  EXPECT_EQ(read_json(resumed / "run" / kSettingsFile)["precision"], "bf16");
  expect_same_trainable_weights(straight / "run" / kLastCheckpoint, resumed / "run" / kLastCheckpoint);
}

// A fine-tuning run records its recipe: --resume without the flags goes on
// with stage 2, and the checkpoint carries the fine-tuned backbone.
TEST_F(AppTrain, FineTuningRunsResumeWithTheirRecipe) {
  const auto weights = testing::generated_keras_weights(ModelKind::MobileNetV2);
  TempDir dir;
  auto first = command(dir / "run", 1);
  first.model = "mobilenetv2";
  first.weights = weights.string();
  first.fine_tune = true;
  first.fine_tune_epochs = 1;
  first.unfreeze_from = "block_16_project";
  first.augment = false;
  run(first);
  const auto settings = read_json(dir / "run" / kSettingsFile);
  EXPECT_EQ(settings["unfreeze_from"], "block_16_project");
  EXPECT_EQ(settings["head_epochs"], 1);
  EXPECT_EQ(settings["epochs"], 2);

  auto more = command(dir / "run", 1);
  more.epochs.reset();
  more.resume = true;
  more.fine_tune_epochs = 2;  // stage 2 longer: 1 + 2 epochs in all
  run(more);
  const auto last = load_checkpoint(dir / "run" / kLastCheckpoint, torch::kCPU);
  EXPECT_EQ(last.meta.epochs_done, 3);
  Classifier imagenet(ModelKind::MobileNetV2);
  imagenet->load_backbone_weights(weights);
  const std::string tuned = "backbone.layers.block_16.project.conv.weight";
  const std::string frozen = "backbone.layers.block_16.depthwise.conv.weight";
  EXPECT_FALSE(torch::equal(last.model->named_parameters()[tuned], imagenet->named_parameters()[tuned]));
  EXPECT_TRUE(torch::equal(last.model->named_parameters()[frozen], imagenet->named_parameters()[frozen]));
  // The optimizer state of stage 2: the head's 4 tensors, the project convolution, gamma and beta, Conv_1's 3.
  EXPECT_EQ(last.optimizer_state.size(), 4u + 3u + 3u);
}

TEST_F(AppTrain, ResumeRepairsALostBestCheckpoint) {
  TempDir dir;
  run(command(dir / "run", 1));
  fs::remove(dir / "run" / kBestCheckpoint);
  auto again = command(dir / "run", 1);  // nothing left to train: only the repair
  again.resume = true;
  run(again);
  EXPECT_EQ(load_checkpoint(dir / "run" / kBestCheckpoint, torch::kCPU).meta.epochs_done, 1);
}

// Issue 22, item 20: when the best epoch's weights were lost, the report
// names the epoch best.ckpt really holds.
TEST_F(AppTrain, ResumeReportsTheEpochBestHoldsWhenTheBestWasLost) {
  TempDir dir;
  run(command(dir / "run", 3));
  auto last = load_checkpoint(dir / "run" / kLastCheckpoint, torch::kCPU);
  for (auto& record : last.meta.history) record.val_accuracy = record.epoch == 2 ? 0.9 : 0.5;
  save_checkpoint(dir / "run" / kLastCheckpoint, last.model, last.optimizer_state, last.meta);
  fs::remove(dir / "run" / kBestCheckpoint);
  auto again = command(dir / "run", 3);  // nothing left to train: only the repair
  again.resume = true;
  const std::string report = run(again);
  EXPECT_NE(report.find("best epoch: 3 of 3, val_accuracy 0.5000"), std::string::npos) << report;
  EXPECT_NE(report.find("epoch 2 scored higher, but its weights were lost"), std::string::npos) << report;
}

TEST_F(AppTrain, AnExistingRunIsNotReplacedWithoutExistOk) {
  TempDir dir;
  run(command(dir / "run", 1));
  const auto before = trainable_weights(dir / "run" / kLastCheckpoint);
  const std::string message = error_of([&] {
    std::ostringstream out;
    run_train(command(dir / "run", 1), runtime_, out);
  });
  EXPECT_NE(message.find("--resume"), std::string::npos) << message;
  const auto after = trainable_weights(dir / "run" / kLastCheckpoint);
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(torch::equal(before[i], after[i]));

  auto replace = command(dir / "run", 1);
  replace.exist_ok = true;
  run(replace);
  EXPECT_TRUE(fs::exists(dir / "run" / kLastCheckpoint));
}

TEST_F(AppTrain, ResumeNeedsARunFolder) {
  TempDir dir;
  auto options = command(dir / "run", 1);
  options.resume = true;
  EXPECT_NE(error_of([&] {
              std::ostringstream out;
              run_train(options, runtime_, out);
            }).find("last.ckpt does not exist"),
            std::string::npos);
  options.out.clear();
  EXPECT_THROW(
      {
        std::ostringstream out;
        run_train(options, runtime_, out);
      },
      Error);
}

TEST_F(AppTrain, JsonNamesTheRunBestEpochAndFinalMetrics) {
  TempDir dir;
  auto options = command(dir / "run", 2);
  options.json = true;
  const std::string printed = run(options);
  const auto json = nlohmann::json::parse(printed);
  EXPECT_EQ(json["run_folder"], (dir / "run").string());
  EXPECT_EQ(json["epochs"], 2);
  EXPECT_TRUE(json["best_epoch"] == 1 || json["best_epoch"] == 2) << json;
  for (const char* key : {"loss", "accuracy", "val_loss", "val_accuracy"}) EXPECT_TRUE(json["final"].contains(key));
  EXPECT_EQ(std::count(printed.begin(), printed.end(), '\n'), 1);
}

// A run remembers its data folder: eval of the run and --resume need no
// --data, from any working folder; --resume keeps the first command line and
// says which of its flags the run's recipe overrides.
TEST_F(AppTrain, EvalAndResumeUseTheRunsDataFolder) {
  testing::ScopedEnv no_data_variable("CATDOG_DATA", nullptr);
  TempDir dir, elsewhere;
  auto first = command(dir / "run", 1);
  first.command_line = "catdog train --epochs 1";
  run(first);
  EXPECT_EQ(read_json(dir / "run" / kSettingsFile)["data_dir"], fs::absolute(small_dataset()).string());

  in_directory(elsewhere.path(), [&] {
    EvalCommand eval;
    eval.checkpoint = (dir / "run").string();
    eval.progress = false;
    std::ostringstream out;
    EXPECT_EQ(run_eval(eval, runtime_, out), kExitOk);
    EXPECT_NE(out.str().find("accuracy"), std::string::npos) << out.str();

    auto more = command(dir / "run", 2);
    more.data.clear();
    more.resume = true;
    more.learning_rate = 0.5;
    more.flags_given = {"--out", "--resume", "--epochs", "--lr"};
    more.command_line = "catdog train --out run --resume --epochs 2 --lr 0.5";
    testing::LogCapture log;
    run(more);
    EXPECT_NE(log.text().find("--resume continues the run's own recipe: --lr 0.0001 (not 0.5)"), std::string::npos)
        << log.text();
  });
  const auto settings = read_json(dir / "run" / kSettingsFile);
  EXPECT_EQ(settings["command_line"], "catdog train --epochs 1");
  EXPECT_EQ(settings["resumed_by"], nlohmann::json::array({"catdog train --out run --resume --epochs 2 --lr 0.5"}));
  EXPECT_EQ(settings["learning_rate"], 1e-4);
  EXPECT_EQ(load_checkpoint(dir / "run" / kLastCheckpoint, torch::kCPU).meta.epochs_done, 2);
}

TEST_F(AppTrain, AMovedDataFolderIsNamedInOneLine) {
  testing::ScopedEnv no_data_variable("CATDOG_DATA", nullptr);
  TempDir dir;
  testing::write_synthetic_dataset(dir / "photos", 10);
  auto first = command(dir / "run", 1);
  first.data = (dir / "photos").string();
  run(first);
  fs::rename(dir / "photos", dir / "moved");
  EvalCommand eval;
  eval.checkpoint = (dir / "run").string();
  eval.progress = false;
  in_directory(dir.path(), [&] {
    const std::string message = error_of([&] {
      std::ostringstream out;
      run_eval(eval, runtime_, out);
    });
    EXPECT_NE(message.find("the run's data folder " + (dir / "photos").string() +
                           " holds no dataset any more (moved or removed?): pass --data"),
              std::string::npos)
        << message;
    fs::rename(dir / "moved", dir / "data");  // the default folder: used, with a warning
    testing::LogCapture log;
    std::ostringstream out;
    EXPECT_EQ(run_eval(eval, runtime_, out), kExitOk);
    EXPECT_NE(log.text().find("holds no dataset any more (moved or removed?): using data"), std::string::npos)
        << log.text();
  });
}

// --config repeats a run: its recipe, seeds and data folder, bit for bit;
// flags given win over it.
TEST_F(AppTrain, ConfigRepeatsARecordedRun) {
  testing::ScopedEnv no_data_variable("CATDOG_DATA", nullptr);
  TempDir dir;
  auto original = command(dir / "x", 1);
  original.batch_size = 8;
  original.learning_rate = 3e-4;
  original.schedule = Schedule::Cosine;
  runtime_.seed = 7;
  run(original);

  runtime_.seed = 42;
  TrainCommand repeat;
  repeat.config = dir / "x" / kSettingsFile;
  repeat.out = (dir / "y").string();
  repeat.progress = false;
  repeat.initial_eval_batches = 1;
  repeat.test = false;
  in_directory(dir.path(), [&] { run(repeat); });
  const auto x = read_json(dir / "x" / kSettingsFile), y = read_json(dir / "y" / kSettingsFile);
  for (const char* key : {"model", "data_dir", "epochs", "batch_size", "learning_rate", "schedule", "seed", "split_seed"})
    EXPECT_EQ(x[key], y[key]) << key;
  expect_same_trainable_weights(dir / "x" / kLastCheckpoint, dir / "y" / kLastCheckpoint);

  auto longer = repeat;
  longer.out = (dir / "z").string();
  longer.epochs = 2;
  longer.batch_size = 4;
  longer.flags_given = {"--config", "--out", "--epochs", "--batch-size"};
  run(longer);
  const auto z = read_json(dir / "z" / kSettingsFile);
  EXPECT_EQ(z["epochs"], 2);
  EXPECT_EQ(z["batch_size"], 4);
  EXPECT_EQ(z["learning_rate"], 3e-4);

  auto broken = repeat;
  broken.config = dir / "x" / kHistoryCsv;
  EXPECT_NE(error_of([&] {
              std::ostringstream out;
              run_train(broken, runtime_, out);
            }).find("is not a JSON object"),
            std::string::npos);
}

// The registry's recipes, and flags over them: augmenting lengthens the
// default run (scratch 10 -> 30 epochs), fine-tuning is 10 + 10, --epochs wins.
TEST(AppTrainRecipe, AugmentingAndFineTuningTakeTheRegistrysEpochs) {
  const auto recipe = [](TrainCommand command) {
    TrainOptions options;
    apply_recipe(command, model_spec(parse_model_kind(command.model)), options);
    return options;
  };
  TrainCommand scratch;
  EXPECT_EQ(recipe(scratch).epochs, 10);
  EXPECT_FALSE(recipe(scratch).augment);
  scratch.augment = true;
  EXPECT_EQ(recipe(scratch).epochs, 30);
  EXPECT_TRUE(recipe(scratch).augment);
  scratch.epochs = 12;
  EXPECT_EQ(recipe(scratch).epochs, 12);

  TrainCommand mobilenet;
  mobilenet.model = "mobilenetv2";
  EXPECT_EQ(recipe(mobilenet).epochs, 5);
  mobilenet.fine_tune = true;
  const auto fine_tuning = recipe(mobilenet);
  EXPECT_TRUE(fine_tuning.augment);
  EXPECT_EQ(fine_tuning.fine_tune.head_epochs, 10);
  EXPECT_EQ(fine_tuning.epochs, 20);
  EXPECT_EQ(fine_tuning.fine_tune.unfreeze_from, "block_11_depthwise");
  mobilenet.augment = false;
  mobilenet.epochs = 3;
  mobilenet.fine_tune_epochs = 4;
  EXPECT_FALSE(recipe(mobilenet).augment);
  EXPECT_EQ(recipe(mobilenet).epochs, 7);

  TrainCommand scratch_fine_tuning;
  scratch_fine_tuning.fine_tune = true;
  EXPECT_NE(testing::error_of([&] { recipe(scratch_fine_tuning); }).find("pretrained backbone"), std::string::npos);
}

}  // namespace
}  // namespace catdog::app
