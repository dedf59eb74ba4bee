#include <algorithm>
#include <cmath>
#include <sstream>
#include <tuple>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "catdog/app/output.h"
#include "catdog/base/error.h"
#include "catdog/data/preprocess.h"
#include "catdog/data/split.h"
#include "catdog/infer/evaluate.h"
#include "catdog/report/image_grid.h"
#include "catdog/report/pictures.h"
#include "catdog/store/checkpoint.h"
#include "test_support.h"

namespace catdog {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

constexpr uint64_t kSplitSeed = 7;
constexpr double kDogLogit = 5;  // the hand-set head: logits (0, 5) whatever the image

// A scratch checkpoint whose last layer ignores its input and always says
// dog with probability 1 / (1 + e^-5), so every metric is known in advance.
fs::path always_dog_checkpoint(const fs::path& dir) {
  Classifier model(ModelKind::Scratch);
  auto parameters = model->trainable_parameters();
  {
    torch::NoGradGuard no_grad;
    auto& weight = parameters[parameters.size() - 2];
    auto& bias = parameters.back();
    EXPECT_EQ(weight.size(0), 2);
    weight.zero_();
    bias.copy_(torch::tensor({0.0, kDogLogit}));
  }
  CheckpointMeta meta;
  meta.split_seed = kSplitSeed;
  meta.image_size = kDefaultImageSize;
  const fs::path file = dir / "always-dog.ckpt";
  save_checkpoint(file, model, {}, meta);
  return file;
}

class Evaluate : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_synthetic_dataset(dir_ / "data", 40);
    checkpoint_ = always_dog_checkpoint(dir_.path());
    const auto samples = scan_dataset(dir_ / "data").samples;
    for (const auto& sample : split_dataset(samples, kSplitSeed).test) (sample.label == kDogLabel ? dogs_ : cats_)++;
  }
  EvalOptions options() const {
    EvalOptions o;
    o.batch_size = 3;  // several batches, the last one short
    o.progress = nullptr;
    return o;
  }
  EvalReport run(const EvalOptions& o) {
    Checkpoint checkpoint = load_checkpoint(checkpoint_, torch::kCPU);
    return evaluate(checkpoint, scan_dataset(dir_ / "data"), o, runtime_);
  }

  TempDir dir_;
  fs::path checkpoint_;
  Runtime runtime_;
  int64_t cats_ = 0, dogs_ = 0;  // in the test split
};

TEST_F(Evaluate, CountsMatchAModelThatAlwaysSaysDog) {
  ASSERT_EQ(cats_ + dogs_, 8);  // 10% of 80
  ASSERT_GT(cats_, 0);
  const EvalReport report = run(options());
  EXPECT_EQ(report.images, 8);
  EXPECT_EQ(report.skipped, 0);
  EXPECT_EQ(report.split, "test");
  EXPECT_EQ(report.confusion.count(kCatLabel, kDogLabel), cats_);
  EXPECT_EQ(report.confusion.count(kDogLabel, kDogLabel), dogs_);
  EXPECT_EQ(report.confusion.count(kCatLabel, kCatLabel), 0);
  EXPECT_EQ(report.confusion.count(kDogLabel, kCatLabel), 0);
  EXPECT_DOUBLE_EQ(report.confusion.accuracy(), static_cast<double>(dogs_) / 8);

  // Cross-entropy: -log(p_dog) for dogs, -log(1 - p_dog) for cats.
  const double expected_loss =
      (cats_ * std::log1p(std::exp(kDogLogit)) + dogs_ * std::log1p(std::exp(-kDogLogit))) / 8;
  EXPECT_NEAR(report.loss, expected_loss, 1e-5);

  ASSERT_EQ(static_cast<int64_t>(report.mistakes.size()), cats_);
  for (const auto& mistake : report.mistakes) {
    EXPECT_EQ(mistake.truth, kCatLabel);
    EXPECT_EQ(mistake.predicted, kDogLabel);
    EXPECT_NEAR(mistake.confidence, 1 / (1 + std::exp(-kDogLogit)), 1e-6);
    EXPECT_EQ(mistake.file.rfind("cat/", 0), 0u) << mistake.file;
  }
  EXPECT_GT(report.images_per_second, 0);
}

// The worst mistakes picture shows the model's wrong answers (every cat here), no more than asked.
TEST_F(Evaluate, TopLossesPictureShowsTheMistakes) {
  const EvalReport report = run(options());
  ASSERT_GT(cats_, 0);
  const fs::path png = dir_ / "out" / "top_losses.png";
  fs::create_directories(png.parent_path());
  EXPECT_EQ(write_top_losses(report, 100, png), static_cast<size_t>(cats_));
  EXPECT_FALSE(cv::imread(png.string()).empty());
  EXPECT_EQ(write_top_losses(report, 1, dir_ / "out" / "one.png"), 1u);
}

TEST_F(Evaluate, GridConfusionPictureAndMistakesFile) {
  const EvalReport report = run(options());
  const fs::path grid_png = dir_ / "out" / "grid.png";
  write_prediction_grid(report, grid_png);
  const cv::Mat grid = cv::imread(grid_png.string());
  ASSERT_FALSE(grid.empty());
  ASSERT_GE(report.samples.size(), 5u);
  ASSERT_LT(report.samples.size(), 16u);
  // As many rows of 8 as the images fill, no blank ones: 16 images fill two
  // rows of eight, 5 one row of five (the split's images, repeated).
  for (const auto& [images, cols, rows] : {std::tuple{16, 8, 2}, std::tuple{5, 5, 1}}) {
    auto sized = report;
    sized.samples.clear();
    for (int k = 0; k < images; ++k) sized.samples.push_back(report.samples[k % report.samples.size()]);
    sized.predicted.assign(images, 0);
    sized.confidence.assign(images, 0.9f);
    write_prediction_grid(sized, grid_png);
    const cv::Mat picture = cv::imread(grid_png.string());
    EXPECT_EQ(picture.cols, cols * kGridCellWidth) << images;
    EXPECT_EQ(picture.rows, rows * kGridCellHeight) << images;
  }

  std::istringstream csv(app::mistakes_csv(report));
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line, "file,true,predicted,confidence");
  int rows = 0;
  while (std::getline(csv, line)) {
    EXPECT_EQ(line.rfind("cat/", 0), 0u) << line;
    EXPECT_NE(line.find(",cat,dog,0.9933"), std::string::npos) << line;
    ++rows;
  }
  EXPECT_EQ(rows, cats_);
}

TEST_F(Evaluate, OtherSplits) {
  EvalOptions o = options();
  o.split = "validation";
  EXPECT_EQ(run(o).images, 8);
  o.split = "train";
  EXPECT_EQ(run(o).images, 64);
}

TEST_F(Evaluate, ReportsAsTextAndJson) {
  const EvalReport report = run(options());
  const std::string text = app::format_eval_report(report);
  char accuracy[64];
  std::snprintf(accuracy, sizeof accuracy, "accuracy:   %.4f (%lld/8)", dogs_ / 8.0, static_cast<long long>(dogs_));
  EXPECT_NE(text.find(accuracy), std::string::npos) << text;
  EXPECT_NE(text.find("precision"), std::string::npos) << text;
  EXPECT_NE(text.find("confusion matrix"), std::string::npos) << text;

  const nlohmann::json json = app::eval_report_to_json(report);
  EXPECT_EQ(json["images"], 8);
  EXPECT_EQ(json["split"], "test");
  EXPECT_EQ(json["confusion"], nlohmann::json({{0, cats_}, {0, dogs_}}));
  EXPECT_DOUBLE_EQ(json["accuracy"].get<double>(), dogs_ / 8.0);
  EXPECT_EQ(json["classes"]["dog"]["support"], dogs_);
  EXPECT_DOUBLE_EQ(json["classes"]["dog"]["recall"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(json["classes"]["cat"]["precision"].get<double>(), 0.0);  // never predicted
  EXPECT_EQ(json["mistakes"].size(), static_cast<size_t>(cats_));
  EXPECT_EQ(nlohmann::json::parse(json.dump()), json);
}

// The always-dog model ignores its input, so averaging over mirror images
// changes no number; the report says that TTA ran.
TEST_F(Evaluate, TestTimeAugmentationIsReported) {
  const EvalReport plain = run(options());
  auto o = options();
  o.tta = true;
  const EvalReport tta = run(o);
  EXPECT_FALSE(plain.tta);
  EXPECT_TRUE(tta.tta);
  EXPECT_EQ(tta.images, plain.images);
  EXPECT_NEAR(tta.loss, plain.loss, 1e-6);
  EXPECT_EQ(tta.confusion.count(kCatLabel, kDogLabel), plain.confusion.count(kCatLabel, kDogLabel));
  for (size_t i = 0; i < plain.confidence.size(); ++i) {
    EXPECT_EQ(tta.predicted[i], plain.predicted[i]) << i;
    EXPECT_NEAR(tta.confidence[i], plain.confidence[i], 1e-6) << i;
  }
  EXPECT_EQ(app::eval_report_to_json(plain)["tta"], false);
  EXPECT_EQ(app::eval_report_to_json(tta)["tta"], true);
  EXPECT_EQ(app::format_eval_report(plain).find("tta:"), std::string::npos);
  EXPECT_NE(app::format_eval_report(tta).find("tta:        horizontal flip"), std::string::npos) << app::format_eval_report(tta);
}

// Issue 10 item 10: a file name that is not UTF-8 must not stop the JSON report.
// Issue 22, item 13: JPEGs cut short are evaluated (libjpeg fills in gray)
// and counted and named as damaged.
TEST_F(Evaluate, DamagedImagesAreCountedAndNamed) {
  std::vector<std::string> cut;
  for (const auto& sample : split_dataset(scan_dataset(dir_ / "data").samples, kSplitSeed).test) {
    if (cut.size() == 3) break;
    const fs::path file = dir_ / "data" / sample.path;
    fs::resize_file(file, fs::file_size(file) * 3 / 10);
    cut.push_back(sample.path);
  }
  std::sort(cut.begin(), cut.end());
  const EvalReport report = run(options());
  EXPECT_EQ(report.images, 8) << "damaged images are still evaluated";
  EXPECT_EQ(report.damaged, cut);
  EXPECT_NE(app::format_eval_report(report).find("(8 images, 3 damaged (decoded in part))"), std::string::npos)
      << app::format_eval_report(report);
  EXPECT_EQ(app::eval_report_to_json(report)["damaged"].size(), 3u);
  EXPECT_TRUE(run(options()).damaged.size() == 3u) << "counted once per run";
}

TEST_F(Evaluate, JsonReportTakesAnyFileName) {
  EvalReport report = run(options());
  ASSERT_FALSE(report.mistakes.empty());
  report.mistakes[0].file = "cat/\xff\xfe.jpg";
  const auto json = nlohmann::json::parse(app::eval_report_to_json(report).dump());
  EXPECT_EQ(json["mistakes"][0]["file"], "cat/\\xff\\xfe.jpg");
}

}  // namespace
}  // namespace catdog
