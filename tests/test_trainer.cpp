// The training loop as a library: no files but the caches it is told to
// keep; the run folder around it is the application's (test_app_train.cpp).
#include <cmath>
#include <fstream>
#include <map>

#include <torch/torch.h>

#include "catdog/base/error.h"
#include "catdog/store/zip_check.h"
#include "catdog/train/trainer.h"
#include "test_support.h"

namespace catdog {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// Generated datasets shared by every test: writing JPEGs once keeps the suite fast.
class Trainer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new TempDir();
    testing::write_synthetic_dataset(data_->path() / "small", 20);
    testing::write_synthetic_dataset(data_->path() / "learnable", 60);
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }

  static TrainOptions options(int epochs) {
    TrainOptions options;
    options.epochs = epochs;
    options.progress = nullptr;
    options.initial_eval_batches = 1;
    return options;
  }
  static DatasetIndex small() { return scan_dataset(data_->path() / "small"); }
  // MobileNetV2 with Keras' layers, not ImageNet's values: generated, so the
  // fine-tuning and feature-cache tests never depend on ../shared.
  static TrainOptions mobilenet_options(int epochs) {
    auto o = options(epochs);
    o.model = ModelKind::MobileNetV2;
    o.weights = testing::generated_keras_weights(ModelKind::MobileNetV2);
    return o;
  }
  // One epoch of MobileNetV2 keeping its features in `cache`.
  static TrainOptions mobilenet_with_feature_files(const TempDir& cache) {
    auto o = mobilenet_options(1);
    o.train_features_file = cache / "train.pt";
    o.validation_features_file = cache / "validation.pt";
    return o;
  }

  static TempDir* data_;
  Runtime runtime_;
};
TempDir* Trainer::data_ = nullptr;

const EpochCallback kIgnoreEpochs = [](const EpochEnd&) {};

// Everything but the wall time.
void expect_same_history(const History& a, const History& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].epoch, b[i].epoch);
    EXPECT_EQ(a[i].loss, b[i].loss) << "epoch " << a[i].epoch;
    EXPECT_EQ(a[i].accuracy, b[i].accuracy) << "epoch " << a[i].epoch;
    EXPECT_EQ(a[i].val_loss, b[i].val_loss) << "epoch " << a[i].epoch;
    EXPECT_EQ(a[i].val_accuracy, b[i].val_accuracy) << "epoch " << a[i].epoch;
  }
}

void expect_same_weights(Classifier& a, Classifier& b) {
  const auto wa = a->trainable_parameters(), wb = b->trainable_parameters();
  ASSERT_EQ(wa.size(), wb.size());
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_TRUE(torch::equal(wa[i], wb[i])) << "parameter " << i;
}


TEST_F(Trainer, ScratchModelLearnsEasyImages) {
  const auto result = train(scan_dataset(data_->path() / "learnable"), options(2), runtime_, kIgnoreEpochs);
  ASSERT_EQ(result.history.size(), 2u);
  EXPECT_GT(result.history.back().val_accuracy, 0.9);
  EXPECT_LT(result.history.back().loss, result.history.front().loss);
}

TEST_F(Trainer, SameSeedGivesIdenticalHistoryAndWeights) {
  auto a = train(small(), options(2), runtime_, kIgnoreEpochs);
  auto b = train(small(), options(2), runtime_, kIgnoreEpochs);
  expect_same_history(a.history, b.history);
  expect_same_weights(a.model, b.model);
}

TEST_F(Trainer, EveryEpochIsHandedOverWithItsBestFlag) {
  std::vector<int> epochs;
  std::vector<bool> best;
  const auto result = train(small(), options(3), runtime_, [&](const EpochEnd& end) {
    epochs.push_back(end.history.back().epoch);
    best.push_back(end.is_best);
    EXPECT_EQ(end.optimizer_state.size(), end.model->trainable_parameters().size());
  });
  EXPECT_EQ(epochs, (std::vector<int>{1, 2, 3}));
  ASSERT_EQ(best.size(), 3u);
  EXPECT_TRUE(best[0]);
  double best_so_far = result.history[0].val_accuracy;
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(best[i], result.history[i].val_accuracy > best_so_far) << "epoch " << i + 1;
    best_so_far = std::max(best_so_far, result.history[i].val_accuracy);
  }
}

TEST_F(Trainer, ResumingFromAStateContinuesBitForBit) {
  auto straight = train(small(), options(2), runtime_, kIgnoreEpochs);
  std::vector<torch::Tensor> optimizer_state;
  auto first = train(small(), options(1), runtime_, [&](const EpochEnd& end) {
    for (const auto& tensor : end.optimizer_state) optimizer_state.push_back(tensor.clone());
  });
  TrainState state{first.model, optimizer_state, first.history};
  auto continued = train(small(), options(2), runtime_, kIgnoreEpochs, &state);
  expect_same_history(straight.history, continued.history);
  expect_same_weights(straight.model, continued.model);
}

TEST_F(Trainer, ANonFiniteLossStopsTheRunWithAClearMessage) {
  std::vector<torch::Tensor> optimizer_state;
  auto first = train(small(), options(1), runtime_, [&](const EpochEnd& end) {
    for (const auto& tensor : end.optimizer_state) optimizer_state.push_back(tensor.clone());
  });
  {  // weights gone to NaN, as after a diverging step
    torch::NoGradGuard no_grad;
    first.model->trainable_parameters().back().fill_(std::numeric_limits<float>::quiet_NaN());
  }
  TrainState state{first.model, optimizer_state, first.history};
  int committed = 0;
  try {
    train(small(), options(2), runtime_, [&](const EpochEnd&) { ++committed; }, &state);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("the training loss became nan in epoch 2"), std::string::npos) << message;
    EXPECT_NE(message.find("lower learning rate"), std::string::npos) << message;
  }
  EXPECT_EQ(committed, 0);  // the diverged epoch is never handed over
}

TEST_F(Trainer, ADatasetWithAnEmptyClassIsRefused) {
  TempDir dir;
  testing::write_synthetic_dataset(dir.path(), 10);
  for (const auto& entry : fs::directory_iterator(dir / "dog")) fs::remove(entry.path());
  try {
    train(scan_dataset(dir.path()), options(1), runtime_, kIgnoreEpochs);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no usable dog images"), std::string::npos) << e.what();
  }
}

TEST_F(Trainer, CachedFeaturesTrainLikeTheNaiveLoopAndAreKept) {
  TempDir cache;
  runtime_.precision = Precision::Fp32;  // the same arithmetic on both paths
  auto cached_options = mobilenet_options(2);
  cached_options.batch_size = 8;  // several batches per epoch: the order matters
  cached_options.train_features_file = cache / "train.pt";
  cached_options.validation_features_file = cache / "validation.pt";
  auto cached = train(small(), cached_options, runtime_, kIgnoreEpochs);
  EXPECT_TRUE(fs::exists(cache / "train.pt"));
  EXPECT_TRUE(fs::exists(cache / "validation.pt"));

  auto naive_options = cached_options;
  naive_options.feature_cache = false;
  auto naive = train(small(), naive_options, runtime_, kIgnoreEpochs);

  ASSERT_EQ(cached.history.size(), naive.history.size());
  for (size_t i = 0; i < naive.history.size(); ++i) {
    EXPECT_NEAR(cached.history[i].loss, naive.history[i].loss, 1e-4);
    EXPECT_EQ(cached.history[i].accuracy, naive.history[i].accuracy);
    EXPECT_NEAR(cached.history[i].val_loss, naive.history[i].val_loss, 1e-4);
    EXPECT_EQ(cached.history[i].val_accuracy, naive.history[i].val_accuracy);
  }
  const auto a = cached.model->trainable_parameters(), b = naive.model->trainable_parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-4, 1e-5)) << "parameter " << i;
}

// Stage 1 trains the head alone; stage 2 the backbone from the unfreeze
// point on too, with a fresh optimizer over both, BatchNorm statistics kept.
TEST_F(Trainer, FineTuningTrainsTheBackboneTopInTheSecondStageOnly) {
  auto o = mobilenet_options(2);
  o.batch_size = 8;
  o.fine_tune = {"block_16_depthwise", 1, 0.1};
  // The backbone's state after each epoch, by name.
  std::vector<std::map<std::string, torch::Tensor>> states;
  std::vector<size_t> optimizer_sizes;
  auto result = train(small(), o, runtime_, [&](const EpochEnd& end) {
    std::map<std::string, torch::Tensor> state;
    for (const auto& item : end.model->named_parameters()) state[item.key()] = item.value().detach().clone();
    for (const auto& item : end.model->named_buffers()) state[item.key()] = item.value().clone();
    states.push_back(state);
    optimizer_sizes.push_back(end.optimizer_state.size());
  });
  ASSERT_EQ(states.size(), 2u);
  Classifier initial(ModelKind::MobileNetV2);
  initial->load_backbone_weights(o.weights);
  const auto unchanged = [&](size_t epoch, const std::string& name) {
    return torch::equal(states[epoch].at(name), initial->named_parameters(true).contains(name)
                                                    ? initial->named_parameters()[name]
                                                    : initial->named_buffers()[name]);
  };
  const std::string top = "backbone.layers.block_16.depthwise.conv.weight";
  const std::string top_gamma = "backbone.layers.block_16.project.bn.weight";
  const std::string below = "backbone.layers.block_16.expand.conv.weight";
  const std::string statistics = "backbone.layers.block_16.depthwise.bn.running_var";
  EXPECT_TRUE(unchanged(0, top));  // stage 1: head only
  EXPECT_FALSE(unchanged(1, top));
  EXPECT_FALSE(unchanged(1, top_gamma));
  EXPECT_TRUE(unchanged(1, below));
  EXPECT_TRUE(unchanged(1, statistics));
  EXPECT_EQ(optimizer_sizes[0], 4u);            // the head's two kernels and biases
  EXPECT_EQ(optimizer_sizes[1], 4u + 3u * 2u + 3u);  // + block_16 depthwise/project (conv, gamma, beta) and Conv_1
}

TEST_F(Trainer, FineTuningResumesBitForBitInsideAndBetweenStages) {
  auto o = mobilenet_options(3);
  o.fine_tune = {"block_16_project", 1, 0.1};
  o.schedule = Schedule::Cosine;
  auto straight = train(small(), o, runtime_, kIgnoreEpochs);
  for (const int stop_after : {1, 2}) {
    auto part = o;
    part.epochs = stop_after;
    std::vector<torch::Tensor> optimizer_state;
    auto first = train(small(), part, runtime_, [&](const EpochEnd& end) {
      optimizer_state.clear();
      for (const auto& tensor : end.optimizer_state) optimizer_state.push_back(tensor.clone());
    });
    TrainState state{first.model, optimizer_state, first.history};
    auto continued = train(small(), o, runtime_, kIgnoreEpochs, &state);
    expect_same_history(straight.history, continued.history);
    expect_same_weights(straight.model, continued.model);
  }
}

TEST_F(Trainer, AugmentedTrainingIsReproducibleAndNotThePlainOne) {
  auto o = options(1);
  o.augment = true;
  auto a = train(small(), o, runtime_, kIgnoreEpochs);
  auto b = train(small(), o, runtime_, kIgnoreEpochs);
  expect_same_history(a.history, b.history);
  expect_same_weights(a.model, b.model);
  o.augment = false;
  const auto plain = train(small(), o, runtime_, kIgnoreEpochs);
  EXPECT_NE(plain.history[0].loss, a.history[0].loss);
  EXPECT_NE(plain.history[0].val_loss, a.history[0].val_loss);  // other weights, same validation images
}

// Precision::Bf16 trains the trainable layers under bf16 autocast (weights and
// optimizer fp32): close to fp32's run, not equal to it. Auto trains in fp32.
TEST_F(Trainer, Bf16TrainsCloseToFp32AndAutoTrainsInFp32) {
  Runtime fp32 = runtime_, bf16 = runtime_;
  fp32.precision = Precision::Fp32;
  bf16.precision = Precision::Bf16;
  ASSERT_EQ(runtime_.precision, Precision::Auto);
  auto automatic = train(small(), options(2), runtime_, kIgnoreEpochs);
  auto full = train(small(), options(2), fp32, kIgnoreEpochs);
  auto half = train(small(), options(2), bf16, kIgnoreEpochs);
  expect_same_history(automatic.history, full.history);
  expect_same_weights(automatic.model, full.model);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_NE(half.history[i].loss, full.history[i].loss) << "epoch " << i + 1;
    EXPECT_NEAR(half.history[i].loss, full.history[i].loss, 0.05 * full.history[i].loss) << "epoch " << i + 1;
    EXPECT_NEAR(half.history[i].val_loss, full.history[i].val_loss, 0.05 * full.history[i].val_loss);
  }
  const auto wf = full.model->trainable_parameters(), wh = half.model->trainable_parameters();
  for (size_t i = 0; i < wf.size(); ++i) EXPECT_EQ(wh[i].scalar_type(), torch::kFloat) << "parameter " << i;
}

// A misspelt unfreeze point is refused before stage 1 spends its epochs.
TEST_F(Trainer, AnUnknownUnfreezeLayerIsRefusedBeforeTheFirstEpoch) {
  auto o = mobilenet_options(2);
  o.fine_tune = {"block_99_depthwise", 1, 0.1};
  int epochs_seen = 0;
  try {
    train(small(), o, runtime_, [&](const EpochEnd&) { ++epochs_seen; });
    FAIL() << "an unknown layer was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("block_11_depthwise"), std::string::npos) << e.what();
  }
  EXPECT_EQ(epochs_seen, 0);
}

// Issue 22, item 14: a derived learning rate (--lr x --fine-tune-lr-factor)
// that float32 cannot hold fails before stage 1 trains, not after it.
TEST_F(Trainer, EveryStagesLearningRateIsCheckedBeforeTheFirstEpoch) {
  for (const double factor : {1e308, 1e-300}) {
    auto o = options(3);
    o.fine_tune = {"block_16_depthwise", 1, factor};  // checked before the model is built: scratch will do
    int epochs_seen = 0;
    const std::string message =
        testing::error_of([&] { train(small(), o, runtime_, [&](const EpochEnd&) { ++epochs_seen; }); });
    EXPECT_NE(message.find("the learning rate of epochs 2 to 3 is "), std::string::npos) << message;
    EXPECT_NE(message.find("times the fine-tuning factor"), std::string::npos) << message;
    EXPECT_EQ(epochs_seen, 0) << factor;
  }
  auto o = options(1);
  o.learning_rate = 1e39;
  EXPECT_NE(testing::error_of([&] {
              train(small(), o, runtime_, kIgnoreEpochs);
            }).find("the learning rate of epochs 1 to 1 is 1e+39"),
            std::string::npos);
}

// Nothing changes with a vanishing learning rate: val_loss stops improving at once.
TEST_F(Trainer, PatienceStopsARunWhoseValidationLossStalls) {
  auto o = options(5);
  o.learning_rate = 1e-30;
  o.patience = 2;
  const auto result = train(small(), o, runtime_, kIgnoreEpochs);
  ASSERT_EQ(result.history.size(), 3u);
  o.patience = 0;
  EXPECT_EQ(train(small(), o, runtime_, kIgnoreEpochs).history.size(), 5u);
}

TEST_F(Trainer, LabelSmoothingRaisesTheTrainingLossOfAConfidentModel) {
  auto o = options(3);
  o.learning_rate = 1e-3;
  const auto plain = train(scan_dataset(data_->path() / "learnable"), o, runtime_, kIgnoreEpochs);
  o.label_smoothing = 0.2;
  const auto smoothed = train(scan_dataset(data_->path() / "learnable"), o, runtime_, kIgnoreEpochs);
  // A smoothed target's cross-entropy is at least its entropy: 0.3251 nats for (0.9, 0.1).
  EXPECT_GT(smoothed.history.back().loss, 0.3250);
  EXPECT_LT(plain.history.back().loss, smoothed.history.back().loss);
}

// A flipped byte in a feature file is found (check_zip) before LibTorch
// reads it: the features are computed again and the file rewritten whole.
TEST_F(Trainer, ACorruptFeatureCacheIsRecomputedAndRewritten) {
  TempDir cache;
  auto o = mobilenet_with_feature_files(cache);
  const auto read = [&] {
    std::ifstream in(cache / "train.pt", std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  train(small(), o, runtime_, kIgnoreEpochs);
  const auto whole = read();
  auto flipped = whole;
  flipped[flipped.size() / 2] ^= 0x40;  // inside the features record, by far the largest
  std::ofstream(cache / "train.pt", std::ios::binary) << flipped;
  const auto zip_problem = [](const std::string& bytes) {
    return check_zip(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()).problem;
  };
  ASSERT_NE(zip_problem(flipped), "");

  train(small(), o, runtime_, kIgnoreEpochs);
  const auto rewritten = read();
  EXPECT_EQ(zip_problem(rewritten), "");
  EXPECT_EQ(rewritten.size(), whole.size());
}

// The training features a feature-cache file holds, and the input size it records.
std::pair<torch::Tensor, int64_t> stored_features(const fs::path& file) {
  torch::serialize::InputArchive archive;
  archive.load_from(file.string());
  torch::Tensor features;
  c10::IValue image_size;
  archive.read("features", features, /*is_buffer=*/true);
  archive.read("image_size", image_size);
  return {features, image_size.toInt()};
}

// Features computed in bf16 are not fp32's: a cache written by one is recomputed by the other.
TEST_F(Trainer, FeatureCacheIsKeyedByPrecision) {
  TempDir cache;
  auto o = mobilenet_with_feature_files(cache);
  runtime_.precision = Precision::Fp32;
  train(small(), o, runtime_, kIgnoreEpochs);
  const auto fp32 = stored_features(cache / "train.pt").first;
  runtime_.precision = Precision::Bf16;
  train(small(), o, runtime_, kIgnoreEpochs);
  const auto bf16 = stored_features(cache / "train.pt").first;
  ASSERT_EQ(fp32.sizes(), bf16.sizes());
  EXPECT_FALSE(fp32.equal(bf16));
  // Synthetic images are far from ImageNet's: bf16 drifts more here than on photos (test_mobilenet_v2).
  EXPECT_GT(torch::cosine_similarity(fp32.flatten(), bf16.flatten(), 0).item<double>(), 0.97);
}

// A 160 px cache is never read for 96 px: the second run recomputes the
// features (other values, the cache records its size); a third run at 96 reuses them.
TEST_F(Trainer, FeatureCacheIsKeyedByImageSize) {
  TempDir cache;
  auto o = mobilenet_with_feature_files(cache);
  train(small(), o, runtime_, kIgnoreEpochs);
  const auto [at_160, size_160] = stored_features(cache / "train.pt");
  EXPECT_EQ(size_160, 160);
  o.image_size = 96;
  const auto result = train(small(), o, runtime_, kIgnoreEpochs);
  EXPECT_EQ(result.model->image_size(), 96);
  const auto [at_96, size_96] = stored_features(cache / "train.pt");
  EXPECT_EQ(size_96, 96);
  ASSERT_EQ(at_160.sizes(), at_96.sizes());
  EXPECT_FALSE(at_160.equal(at_96)) << "the 160 px features were reused for 96 px";
  const auto modified = fs::last_write_time(cache / "train.pt");
  train(small(), o, runtime_, kIgnoreEpochs);
  EXPECT_EQ(fs::last_write_time(cache / "train.pt"), modified) << "the 96 px cache was not reused at 96 px";
}

// The scratch CNN at another input size: its Dense layer takes (96 / 8)^2 x 64 features.
TEST_F(Trainer, ScratchTrainsAtAnotherInputSize) {
  auto o = options(1);
  o.image_size = 96;
  const auto result = train(small(), o, runtime_, kIgnoreEpochs);
  EXPECT_EQ(result.model->image_size(), 96);
  int64_t parameters = 0;
  for (const auto& parameter : result.model->parameters()) parameters += parameter.numel();
  // The three convolutions, Dense(512) on 12 x 12 x 64, Dense(2).
  EXPECT_EQ(parameters, 448 + 4640 + 18496 + (12 * 12 * 64 * 512 + 512) + (512 * 2 + 2));
  ASSERT_EQ(result.history.size(), 1u);
  EXPECT_TRUE(std::isfinite(result.history[0].val_loss));
}

}  // namespace
}  // namespace catdog
