#include <fstream>

#include <torch/torch.h>

#include "catdog/checkpoint.h"
#include "catdog/error.h"
#include "catdog/trainer.h"
#include "test_support.h"

namespace {

namespace fs = std::filesystem;
using catdog::testing::TempDir;

// Generated datasets shared by every test: writing JPEGs once keeps the suite fast.
class Trainer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new TempDir();
    catdog::testing::write_synthetic_dataset(data_->path() / "small", 20);
    catdog::testing::write_synthetic_dataset(data_->path() / "learnable", 60);
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }

  static catdog::TrainOptions small_run(const fs::path& out_dir, int epochs) {
    catdog::TrainOptions options;
    options.data_dir = data_->path() / "small";
    options.out_dir = out_dir;
    options.epochs = epochs;
    options.progress = false;
    options.initial_eval_batches = 1;
    return options;
  }

  static TempDir* data_;
};
TempDir* Trainer::data_ = nullptr;

// Everything but the wall time.
void expect_same_history(const catdog::History& a, const catdog::History& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].epoch, b[i].epoch);
    EXPECT_EQ(a[i].loss, b[i].loss) << "epoch " << a[i].epoch;
    EXPECT_EQ(a[i].accuracy, b[i].accuracy) << "epoch " << a[i].epoch;
    EXPECT_EQ(a[i].val_loss, b[i].val_loss) << "epoch " << a[i].epoch;
    EXPECT_EQ(a[i].val_accuracy, b[i].val_accuracy) << "epoch " << a[i].epoch;
  }
}

std::vector<torch::Tensor> trainable_weights(const fs::path& checkpoint) {
  return catdog::load_checkpoint(checkpoint, torch::kCPU).model->trainable_parameters();
}

nlohmann::json read_json(const fs::path& file) {
  std::ifstream in(file);
  return nlohmann::json::parse(in);
}

fs::path mobilenet_weights() {
  const auto shared = catdog::testing::shared_dir();
  return shared.empty() ? fs::path() : shared / "weights" / "mobilenet_v2_1.0_no_top.h5";
}

}  // namespace

TEST_F(Trainer, ScratchModelLearnsEasyImages) {
  TempDir run;
  auto options = small_run(run.path(), 2);
  options.data_dir = data_->path() / "learnable";
  const auto result = catdog::train(options, torch::kCPU);
  ASSERT_EQ(result.history.size(), 2u);
  EXPECT_GT(result.history.back().val_accuracy, 0.9);
  EXPECT_LT(result.history.back().loss, result.history.front().loss);
}

TEST_F(Trainer, SameSeedGivesIdenticalHistory) {
  TempDir first, second;
  const auto a = catdog::train(small_run(first.path(), 2), torch::kCPU);
  const auto b = catdog::train(small_run(second.path(), 2), torch::kCPU);
  expect_same_history(a.history, b.history);
  const auto weights_a = trainable_weights(first / "last.ckpt"), weights_b = trainable_weights(second / "last.ckpt");
  for (size_t i = 0; i < weights_a.size(); ++i) EXPECT_TRUE(torch::equal(weights_a[i], weights_b[i]));
}

TEST_F(Trainer, ResumeContinuesBitForBit) {
  TempDir straight, resumed;
  const auto uninterrupted = catdog::train(small_run(straight.path(), 2), torch::kCPU);
  catdog::train(small_run(resumed.path(), 1), torch::kCPU);
  auto second_half = small_run(resumed.path(), 2);
  second_half.resume = true;
  second_half.seed = 999;  // the run's own seed wins on resume
  const auto continued = catdog::train(second_half, torch::kCPU);

  expect_same_history(uninterrupted.history, continued.history);
  const auto expected = trainable_weights(straight / "last.ckpt"), actual = trainable_weights(resumed / "last.ckpt");
  ASSERT_EQ(expected.size(), actual.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_TRUE(torch::equal(expected[i], actual[i])) << "parameter " << i;
  EXPECT_EQ(catdog::load_checkpoint(resumed / "last.ckpt", torch::kCPU).meta.epochs_done, 2);
}

TEST_F(Trainer, ResumeWithoutCheckpointIsAnError) {
  TempDir run;
  auto options = small_run(run.path(), 1);
  options.resume = true;
  EXPECT_THROW(catdog::train(options, torch::kCPU), catdog::Error);
  options.out_dir.clear();
  EXPECT_THROW(catdog::train(options, torch::kCPU), catdog::Error);
}

TEST_F(Trainer, MissingBackboneWeightsSayHowToGetThem) {
  TempDir run;
  auto options = small_run(run.path(), 1);
  options.model = catdog::ModelKind::Vgg16;
  options.weights = run / "absent.h5";
  try {
    catdog::train(options, torch::kCPU);
    FAIL() << "expected an Error";
  } catch (const catdog::Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("scripts/download_weights.sh vgg16"), std::string::npos) << message;
    EXPECT_NE(message.find("--weights FILE"), std::string::npos) << message;
  }
}

TEST_F(Trainer, CachedFeaturesTrainLikeTheNaiveLoop) {
  const auto weights = mobilenet_weights();
  if (weights.empty() || !fs::exists(weights)) GTEST_SKIP() << "no ../shared/weights (MobileNetV2 h5)";
  TempDir cached_run, naive_run;
  auto options = small_run(cached_run.path(), 2);
  options.model = catdog::ModelKind::MobileNetV2;
  options.weights = weights;
  options.batch_size = 8;  // several batches per epoch: the order matters
  const auto cached = catdog::train(options, torch::kCPU);
  EXPECT_TRUE(fs::exists(cached_run / "features" / "train.pt"));
  EXPECT_TRUE(fs::exists(cached_run / "features" / "validation.pt"));

  options.out_dir = naive_run.path();
  options.feature_cache = false;
  const auto naive = catdog::train(options, torch::kCPU);
  EXPECT_FALSE(fs::exists(naive_run / "features"));

  ASSERT_EQ(cached.history.size(), naive.history.size());
  for (size_t i = 0; i < naive.history.size(); ++i) {
    EXPECT_NEAR(cached.history[i].loss, naive.history[i].loss, 1e-4);
    EXPECT_EQ(cached.history[i].accuracy, naive.history[i].accuracy);
    EXPECT_NEAR(cached.history[i].val_loss, naive.history[i].val_loss, 1e-4);
    EXPECT_EQ(cached.history[i].val_accuracy, naive.history[i].val_accuracy);
  }
  const auto a = trainable_weights(cached_run / "last.ckpt"), b = trainable_weights(naive_run / "last.ckpt");
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-4, 1e-5)) << "parameter " << i;
}

TEST_F(Trainer, RunFolderHoldsEverythingAndLatestPointsAtIt) {
  TempDir work;
  const auto previous = fs::current_path();
  fs::current_path(work.path());
  auto options = small_run("", 1);
  options.command_line = "catdog train --epochs 1";
  catdog::TrainResult result;
  try {
    result = catdog::train(options, torch::kCPU);
  } catch (...) {
    fs::current_path(previous);
    throw;
  }
  fs::current_path(previous);

  const fs::path run = work / result.run_dir.string();
  EXPECT_EQ(result.run_dir.parent_path(), fs::path("runs"));
  EXPECT_EQ(result.run_dir.filename().string().rfind("scratch-", 0), 0u) << result.run_dir;
  for (const char* name : {"history.csv", "history.json", "curves.png", "best.ckpt", "last.ckpt", "settings.json"})
    EXPECT_TRUE(fs::is_regular_file(run / name)) << name;
  EXPECT_TRUE(fs::is_symlink(work / "runs" / "latest"));
  EXPECT_EQ(fs::read_symlink(work / "runs" / "latest"), result.run_dir.filename());
  EXPECT_EQ(fs::canonical(work / "runs" / "latest"), fs::canonical(run));

  const auto settings = read_json(run / "settings.json");
  EXPECT_EQ(settings["model"], "scratch");
  EXPECT_EQ(settings["epochs"], 1);
  EXPECT_EQ(settings["batch_size"], 32);
  EXPECT_EQ(settings["seed"], 42);
  EXPECT_EQ(settings["command_line"], "catdog train --epochs 1");
  EXPECT_EQ(settings["catdog_version"], CATDOG_VERSION);
  EXPECT_EQ(settings["device"], "cpu");
  EXPECT_EQ(settings["threads"], torch::get_num_threads());

  const auto best = catdog::load_checkpoint(run / "best.ckpt", torch::kCPU);
  EXPECT_EQ(best.meta.epochs_done, 1);
  ASSERT_EQ(best.meta.history.size(), 1u);
  EXPECT_EQ(best.meta.history[0].val_accuracy, result.history[0].val_accuracy);
  EXPECT_EQ(best.meta.settings["command_line"], "catdog train --epochs 1");
  EXPECT_EQ(best.meta.split_seed, catdog::kDefaultSplitSeed);
}
