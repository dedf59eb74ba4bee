#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <regex>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "catdog/data/dataset.h"
#include "catdog/data/preprocess.h"
#include "catdog/infer/classify.h"
#include "odd_images.h"
#include "test_support.h"

namespace catdog {
namespace {

// The two percentages of a verdict.
std::pair<int, int> percentages(const std::string& sentence) {
  std::smatch match;
  const std::regex pattern(R"(^This image seems (\d+)% dog, and (\d+)% cat\.$)");
  EXPECT_TRUE(std::regex_match(sentence, match, pattern)) << sentence;
  if (match.size() != 3) return {-1, -1};
  return {std::stoi(match[1]), std::stoi(match[2])};
}

TEST(Verdict, ExactWording) {
  EXPECT_EQ(verdict_sentence(0.73), "This image seems 73% dog, and 27% cat.");
  EXPECT_EQ(verdict_sentence(1.0), "This image seems 100% dog, and 0% cat.");
  EXPECT_EQ(verdict_sentence(0.0), "This image seems 0% dog, and 100% cat.");
}

TEST(Verdict, RoundsToTheNearestPercentAndAlwaysAddsUpTo100) {
  const std::vector<std::pair<double, int>> cases = {
      {0.5, 50},  {0.505, 51}, {0.495, 50},  {0.994999, 99}, {0.995, 100}, {0.004999, 0},
      {0.005, 1}, {0.015, 2},  {0.125, 13},  {0.333333, 33}, {0.666667, 67}, {1e-9, 0},
      {1 - 1e-9, 100}};
  for (const auto& [probability, dog] : cases) {
    const auto [dog_percent, cat_percent] = percentages(verdict_sentence(probability));
    // Halves round up: 100 * 0.505 = 50.5 -> 51, 100 * 0.495 = 49.5 -> 50.
    EXPECT_EQ(dog_percent, dog) << probability;
    EXPECT_EQ(dog_percent + cat_percent, 100) << probability;
  }
  for (int i = 0; i <= 10000; ++i) {
    const auto [dog_percent, cat_percent] = percentages(verdict_sentence(i / 10000.0));
    ASSERT_EQ(dog_percent + cat_percent, 100) << i;
  }
}

TEST(Verdict, TwoClassesOfAnyNameTakeTheCatDogShape) {
  EXPECT_EQ(verdict_sentence({0.27, 0.73}, {"cat", "dog"}), verdict_sentence(0.73));
  EXPECT_EQ(verdict_sentence({0.9, 0.1}, {"apple", "pear"}), "This image seems 10% pear, and 90% apple.");
}

TEST(Verdict, MoreClassesNameTheTopKMostProbableFirst) {
  const std::vector<std::string> flowers = {"daisy", "dandelion", "rose", "sunflower", "tulip"};
  const std::vector<double> p = {0.81, 0.02, 0.04, 0.01, 0.12};
  EXPECT_EQ(verdict_sentence(p, flowers), "This image seems 81% daisy, 12% tulip and 4% rose.");
  EXPECT_EQ(verdict_sentence(p, flowers, 1), "This image seems 81% daisy.");
  EXPECT_EQ(verdict_sentence(p, flowers, 2), "This image seems 81% daisy and 12% tulip.");
  EXPECT_EQ(verdict_sentence(p, flowers, 9),
            "This image seems 81% daisy, 12% tulip, 4% rose, 2% dandelion and 1% sunflower.");
  EXPECT_EQ(verdict_sentence({0.2, 0.4, 0.4}, {"a", "b", "c"}), "This image seems 40% b, 40% c and 20% a.")
      << "ties keep the classes' order";
}

TEST(Verdict, OutOfRangeProbabilitiesAreClamped) {
  EXPECT_EQ(verdict_sentence(1.2), "This image seems 100% dog, and 0% cat.");
  EXPECT_EQ(verdict_sentence(-0.1), "This image seems 0% dog, and 100% cat.");
}

namespace fs = std::filesystem;

TEST(ExpandInputs, FoldersAreWalkedWithPathsUnderThemAndBadInputsCarryTheirError) {
  testing::TempDir dir;
  testing::write_synthetic_dataset(dir / "photos", 2);
  std::ofstream(dir / "photos" / "notes.txt") << "not an image";
  fs::create_directories(dir / "empty");
  ASSERT_EQ(mkfifo((dir / "pipe.jpg").c_str(), 0600), 0);
  const auto inputs = expand_inputs({(dir / "photos").string(), (dir / "missing.jpg").string(),
                                     (dir / "empty").string(), (dir / "pipe.jpg").string()});
  ASSERT_EQ(inputs.size(), 7u);
  EXPECT_EQ(inputs[0].relative, fs::path("cat") / "cat.0.jpg");
  EXPECT_EQ(inputs[3].relative, fs::path("dog") / "dog.1.jpg");
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(inputs[i].error, "") << i;
  EXPECT_NE(inputs[4].error.find("no such file or folder"), std::string::npos) << inputs[4].error;
  EXPECT_NE(inputs[5].error.find("no image files"), std::string::npos) << inputs[5].error;
  EXPECT_NE(inputs[6].error.find("not a regular file"), std::string::npos) << inputs[6].error;
}

// Issue 22, item 19: the cause named is the real one.
TEST(ExpandInputs, ALinkLoopAndAnUnreadableFolderSayWhatIsWrong) {
  testing::TempDir dir;
  fs::create_symlink("loop.jpg", dir / "loop.jpg");
  testing::write_synthetic_dataset(dir / "locked", 1);
  const auto loop = expand_inputs({(dir / "loop.jpg").string()});
  ASSERT_EQ(loop.size(), 1u);
  EXPECT_NE(loop[0].error.find("Too many levels of symbolic links"), std::string::npos) << loop[0].error;
  fs::permissions(dir / "locked", fs::perms::none);
  testing::WithoutRootPrivileges nobody;
  const auto locked = expand_inputs({(dir / "locked").string()});
  ASSERT_EQ(locked.size(), 1u);
  EXPECT_NE(locked[0].error.find("cannot read the folder (Permission denied)"), std::string::npos) << locked[0].error;
}

TEST(PredictImages, EveryInputGetsAResultInOrderFailuresIncluded) {
  testing::TempDir dir;
  testing::write_synthetic_dataset(dir.path(), 3);
  std::ofstream(dir / "broken.jpg") << "not a JPEG";
  const std::vector<std::string> names = {(dir / "cat" / "cat.0.jpg").string(), (dir / "broken.jpg").string(),
                                          (dir / "missing.jpg").string(), (dir / "dog").string()};
  torch::manual_seed(1);
  Classifier model(ModelKind::Scratch);
  PredictOptions options;
  options.batch_size = 2;  // results cross batch boundaries
  std::vector<std::string> seen;
  const auto results = predict_images(model, expand_inputs(names), options, Runtime{},
                                      [&](const PredictionResult& result) { seen.push_back(result.input.file); });
  ASSERT_EQ(results.size(), 6u);
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_EQ(results[0].error, "");
  EXPECT_NE(results[1].error.find("broken.jpg"), std::string::npos) << results[1].error;
  EXPECT_NE(results[2].error.find("missing.jpg"), std::string::npos) << results[2].error;
  for (size_t i : {size_t{0}, size_t{3}, size_t{4}, size_t{5}}) {
    EXPECT_EQ(results[i].error, "") << i;
    EXPECT_NEAR(results[i].probabilities[kCatLabel] + results[i].probabilities[kDogLabel], 1.0, 1e-6) << i;
    EXPECT_EQ(results[i].input.file.string(), seen[i]);
  }
  // The same image alone gives the same probabilities as in a batch.
  const auto alone = predict_images(model, expand_inputs({names[0]}), options, Runtime{});
  EXPECT_NEAR(alone[0].probabilities[kDogLabel], results[0].probabilities[kDogLabel], 1e-6);
}

// With TTA an image's probabilities are the mean of its own and its mirror
// image's (160 px PNGs: no resampling, so the mirror image is exact).
// Issue 22, item 13: a damaged image is predicted with a warning.
// Item 10: the images a result keeps are bounded copies, whatever the photo's size.
TEST(PredictImages, DamagedImagesCarryAWarningAndKeptImagesAreBounded) {
  testing::TempDir dir;
  auto cut = testing::encode(testing::synthetic_pet_bgr(true, 1), ".jpg");
  cut.resize(cut.size() * 3 / 10);
  testing::write_bytes(dir / "cut.jpg", cut);
  testing::write_bytes(dir / "huge.png",
                       testing::encode(cv::Mat(1500, 3000, CV_8UC3, cv::Scalar(10, 200, 30)), ".png"));
  torch::manual_seed(1);
  Classifier model(ModelKind::Scratch);
  PredictOptions options;
  options.keep_images = true;
  std::vector<PredictionResult> seen;
  predict_images(model, expand_inputs({(dir / "cut.jpg").string(), (dir / "huge.png").string()}), options, Runtime{},
                 [&](const PredictionResult& result) { seen.push_back(result); });
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].error, "");
  EXPECT_EQ(seen[0].warning, "Premature end of JPEG file");
  EXPECT_EQ(seen[0].probabilities.size(), 2u);
  EXPECT_EQ(seen[1].warning, "");
  EXPECT_EQ(seen[1].size, cv::Size(3000, 1500));
  for (const cv::Mat* kept : {&seen[1].image, &seen[1].crop}) {
    EXPECT_EQ(kept->size(), cv::Size(kKeptImageSide, kKeptImageSide / 2));
    EXPECT_FALSE(kept->isSubmatrix());
  }
}

TEST(PredictImages, TestTimeAugmentationAveragesTheImageAndItsMirrorImage) {
  testing::TempDir dir;
  cv::Mat image(kDefaultImageSize, kDefaultImageSize, CV_8UC3), mirrored;
  cv::theRNG().state = 4;
  cv::randu(image, cv::Scalar::all(0), cv::Scalar::all(256));
  image(cv::Rect(10, 40, 50, 60)).setTo(cv::Scalar(20, 200, 240));  // on the left only
  cv::flip(image, mirrored, 1);
  cv::imwrite((dir / "image.png").string(), image);
  cv::imwrite((dir / "mirrored.png").string(), mirrored);
  const auto inputs = expand_inputs({(dir / "image.png").string(), (dir / "mirrored.png").string()});
  torch::manual_seed(3);
  Classifier model(ModelKind::Scratch);
  PredictOptions options;
  const auto plain = predict_images(model, inputs, options, Runtime{});
  options.tta = true;
  const auto tta = predict_images(model, inputs, options, Runtime{});
  ASSERT_EQ(tta.size(), 2u);
  const double mean_dog = (plain[0].probabilities[kDogLabel] + plain[1].probabilities[kDogLabel]) / 2;
  for (const auto& result : tta) {
    EXPECT_NEAR(result.probabilities[kDogLabel], mean_dog, 1e-5) << result.input.file;
    EXPECT_NEAR(result.probabilities[kCatLabel], 1 - mean_dog, 1e-5) << result.input.file;
  }
  EXPECT_GT(std::abs(plain[0].probabilities[kDogLabel] - plain[1].probabilities[kDogLabel]), 1e-4) << "the model must tell the two apart for this to mean anything";
}

}  // namespace
}  // namespace catdog
