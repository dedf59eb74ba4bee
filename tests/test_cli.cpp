// CLI-level tests: the built `catdog` binary run as a user would, stdout and
// stderr captured to files.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <tuple>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "catdog/base/runtime.h"
#include "catdog/data/dataset.h"
#include "catdog/data/split.h"
#include "catdog/models/registry.h"
#include "catdog/store/checkpoint.h"
#include "file_server.h"
#include "test_support.h"

namespace catdog {
namespace {

using testing::CommandResult;
using testing::TempDir;
using testing::lines_of;
using testing::read_text;
namespace fs = std::filesystem;

const std::regex kSentence(R"(This image seems (\d+)% dog, and (\d+)% cat\.)");
const std::regex kSentenceLine(R"(This image seems \d+% dog, and \d+% cat\.\n)");

class Cli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = new TempDir; }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  // A generated dataset and one checkpoint for the tests of this process,
  // made on first use (ctest runs each test alone: the usage tests need
  // neither). The checkpoint is written by the library: the tests need a
  // model, not a training run (TrainCommitsARun... trains one).
  static fs::path data() {
    const fs::path folder = dir_->path() / "data";
    if (!fs::exists(folder)) testing::write_synthetic_dataset(folder, 20);
    return folder;
  }
  static fs::path checkpoint() {
    const fs::path file = dir_->path() / "run" / "best.ckpt";
    if (fs::exists(file)) return file;
    fs::create_directories(file.parent_path());
    torch::manual_seed(1);
    Classifier model(ModelKind::Scratch);
    CheckpointMeta meta;
    meta.image_size = 160;
    meta.split_seed = kDefaultSplitSeed;
    meta.settings = {{"dataset_fingerprint", samples_fingerprint(scan_dataset(data()).samples)},
                     {"dataset_images", 40}};
    save_checkpoint(file, model, {}, meta);
    return file;
  }
  static fs::path cat_image(int i) { return data() / "cat" / ("cat." + std::to_string(i) + ".jpg"); }
  static fs::path dog_image(int i) { return data() / "dog" / ("dog." + std::to_string(i) + ".jpg"); }

  // Runs catdog with `arguments` in the folder `cwd` (default: the test's own).
  static CommandResult run(const std::string& arguments, const fs::path& cwd = {}) {
    testing::ChildOptions options;
    options.cwd = cwd;
    return testing::run_catdog(arguments, options);
  }
  static CommandResult predict(const std::string& arguments) {
    return run("predict -q --threads 2 --checkpoint '" + checkpoint().string() + "' " + arguments);
  }

  static TempDir* dir_;
};
TempDir* Cli::dir_ = nullptr;

// The README's main job trains with --out and then predicts without
// --checkpoint: runs/latest must lead to that run.
TEST_F(Cli, TrainCommitsARunThatPredictFindsThroughLatest) {
  TempDir work;
  const CommandResult train = run("train -q --threads 2 --no-test --epochs 1 --batch-size 16 --data '" + data().string() +
                                      "' --out elsewhere/run",
                                  work.path());
  ASSERT_EQ(train.code, 0) << train.err;
  const auto lines = lines_of(train.out);
  ASSERT_EQ(lines.size(), 2u) << train.out;
  EXPECT_EQ(lines[0], "run folder: elsewhere/run");
  const std::regex best_line(R"(best epoch: 1 of 1, val_accuracy [01]\.\d{4} \(.*best\.ckpt\))");
  EXPECT_TRUE(std::regex_match(lines[1], best_line)) << lines[1];
  EXPECT_EQ(fs::canonical(work / "runs" / "latest"), fs::canonical(work / "elsewhere" / "run"));
  const CommandResult prediction = run("predict -q --threads 2 '" + cat_image(0).string() + "'", work.path());
  EXPECT_EQ(prediction.code, 0) << prediction.err;
  EXPECT_TRUE(std::regex_match(prediction.out, kSentenceLine)) << prediction.out;
}

TEST_F(Cli, HelpAndVersion) {
  const CommandResult help = run("--help");
  EXPECT_EQ(help.code, 0);
  for (const char* command : {"data", "summary", "train", "eval", "predict", "export", "serve"})
    EXPECT_NE(help.out.find(command), std::string::npos) << command;
  const CommandResult version = run("--version");
  EXPECT_EQ(version.code, 0);
  EXPECT_EQ(version.out, std::string("catdog ") + CATDOG_VERSION + "\n");
  const std::vector<std::pair<std::string, std::string>> flags = {
      {"data", "--split-seed"}, {"summary", "--model"}, {"train", "--epochs"}, {"eval", "--grid"}, {"predict", "--face"},
      {"export", "--format"}, {"serve", "--max-upload"}};
  for (const auto& [command, flag] : flags) {
    const CommandResult sub = run(command + " --help");
    EXPECT_EQ(sub.code, 0) << command;
    EXPECT_NE(sub.out.find(flag), std::string::npos) << command << ": " << sub.out;
  }
}

// Usage errors: exit code 2 and one line in the form of every other error.
TEST_F(Cli, UsageErrorsExitWithTwoAndOneLine) {
  for (const char* arguments :
       {"predict --no-such-flag x.jpg", "predict", "train --epochs 0", "train --epochs -3", "train --lr nan",
        "train --lr inf", "train --lr -1", "train --lr 0", "train --batch-size 0", "train --model resnet50",
        // Every floating-point flag refuses NaN and infinities (CLI::Range alone lets NaN through).
        "train --lr 1e400", "train --label-smoothing nan", "train --label-smoothing -inf",
        "train --fine-tune-lr-factor nan", "train --fine-tune-lr-factor inf", "serve --max-upload nan",
        "serve --max-upload inf", "serve --max-upload 0", "serve --max-upload NaN", "--threads 1000 data",
        "data --threads 0", "eval --seed 3", "predict --precision fp16 x.jpg", "export --format gif", "export",
        // --image-size: a multiple of 32 from 96 to 512.
        "train --image-size 100", "train --image-size 4096", "train --image-size 64", "train --image-size big",
        "summary --image-size 100"}) {
    const CommandResult result = run(arguments);
    EXPECT_EQ(result.code, 2) << arguments << ": " << result.err;
    EXPECT_EQ(lines_of(result.err).size(), 1u) << arguments << ": " << result.err;
    EXPECT_EQ(result.err.rfind("catdog: error: ", 0), 0u) << arguments << ": " << result.err;
    EXPECT_EQ(result.out, "") << arguments;
  }
  const CommandResult help = run("train --help");
  EXPECT_NE(help.out.find("Usage: catdog train"), std::string::npos) << help.out;  // not the build path
}

// Issue 22, items 11, 14 and 16: usage errors that say what is wrong.
TEST_F(Cli, UsageErrorsNameTheRealProblem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"train --epochs 2.5", "--epochs: must be a whole number, not 2.5"},
      {"train --epochs 1e9", "--epochs: must be a whole number, not 1e9"},
      {"train --epochs 99999999999", "--epochs: must be at most 2147483647, not 99999999999"},
      {"train --batch-size 99999999999999999999999", "must be at most 65536, not 99999999999999999999999"},
      {"serve --port 80.5", "--port: must be a whole number, not 80.5"},
      {"--threads 100000 data", "(twice the " + std::to_string(available_cores()) + " cores here), not 100000"},
      {"train --nproc 100000", "--nproc: must be at most " + std::to_string(available_cores()) +
                                   " (the cores here: each rank needs one of its own; more only contend), not 100000"},
      {"train --fine-tune-epochs 3", "--fine-tune-epochs applies to fine-tuning: add --fine-tune"},
      {"train --model mobilenetv2 --unfreeze-from block_16_depthwise", "--unfreeze-from applies to fine-tuning"},
      {"train --fine-tune-lr-factor 0.5", "--fine-tune-lr-factor applies to fine-tuning"},
      {"summary --unfreeze-from block_16_depthwise", "--unfreeze-from applies to fine-tuning"},
  };
  for (const auto& [arguments, expected] : cases) {
    const CommandResult result = run(arguments);
    EXPECT_EQ(result.code, 2) << arguments << ": " << result.err;
    EXPECT_EQ(lines_of(result.err).size(), 1u) << arguments << ": " << result.err;
    EXPECT_NE(result.err.find(expected), std::string::npos) << arguments << ": " << result.err;
    EXPECT_EQ(result.err.find("not in range"), std::string::npos) << arguments << ": " << result.err;
  }
}

// Bare `catdog` and `catdog help` list the subcommands; `catdog help train`
// is `catdog train --help`.
TEST_F(Cli, BareAndHelpListTheSubcommands) {
  for (const char* arguments : {"", "help", "-q help"}) {
    const CommandResult result = run(arguments);
    EXPECT_EQ(result.code, 0) << arguments << ": " << result.err;
    EXPECT_NE(result.out.find("Subcommands:"), std::string::npos) << arguments << ": " << result.out;
    for (const char* command : {"data", "summary", "train", "eval", "predict", "export", "serve"})
      EXPECT_NE(result.out.find("\n  " + std::string(command) + " "), std::string::npos) << command;
  }
  EXPECT_EQ(run("help train").out, run("train --help").out);
}

// A mistyped subcommand or flag: one line naming the nearest one.
TEST_F(Cli, TyposGetDidYouMean) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"trian", "catdog: error: unknown subcommand 'trian': did you mean 'train'? (see catdog help)"},
      {"--threads 2 predcit x.jpg", "catdog: error: unknown subcommand 'predcit': did you mean 'predict'?"},
      {"frobnicate", "catdog: error: unknown subcommand 'frobnicate': the subcommands are data, summary, train, eval"},
      {"help trian", "catdog: error: unknown subcommand 'trian': did you mean 'train'?"},
      {"train --epoch 3", "catdog: error: unknown flag --epoch for catdog train: did you mean --epochs? (see catdog "
                          "train --help)"},
      {"eval --tta --batchsize=3", "unknown flag --batchsize for catdog eval: did you mean --batch-size?"},
      {"data --verbos", "unknown flag --verbos for catdog data: did you mean --verbose?"}};
  for (const auto& [arguments, message] : cases) {
    const CommandResult result = run(arguments);
    EXPECT_EQ(result.code, 2) << arguments;
    EXPECT_EQ(lines_of(result.err).size(), 1u) << arguments << ": " << result.err;
    EXPECT_NE(result.err.find(message), std::string::npos) << arguments << ": " << result.err;
    EXPECT_EQ(result.err.find("A subcommand is required"), std::string::npos) << result.err;
  }
}

// --help reads at 80 columns: no line wider, no CLI11 type noise.
TEST_F(Cli, HelpFitsEightyColumnsWithoutTypeNoise) {
  for (const char* arguments : {"--help", "data --help", "summary --help", "train --help", "eval --help",
                                "predict --help", "export --help", "serve --help"}) {
    const CommandResult help = run(arguments);
    ASSERT_EQ(help.code, 0) << arguments;
    for (const auto& line : lines_of(help.out)) EXPECT_LE(line.size(), 80u) << arguments << ": " << line;
    for (const char* noise : {"INT:", "FLOAT:", "TEXT:", "{false}", "{true}", "2147483647", " in ["})
      EXPECT_EQ(help.out.find(noise), std::string::npos) << arguments << " shows " << noise << ":\n" << help.out;
  }
  const std::string train = run("train --help").out;
  EXPECT_NE(train.find("  --augment,--no-augment "), std::string::npos) << train;
  EXPECT_NE(train.find("  --batch-size INT=32 "), std::string::npos) << train;
  EXPECT_NE(train.find("  --cache {auto,memory,disk,off}=auto"), std::string::npos) << train;
}

TEST_F(Cli, GlobalFlagsGoBeforeOrAfterTheSubcommand) {
  for (const std::string& arguments : {"--threads 1 -q data --data '" + data().string() + "'",
                                       "data --data '" + data().string() + "' --threads 1 -q"}) {
    const CommandResult result = run(arguments);
    EXPECT_EQ(result.code, 0) << arguments << ": " << result.err;
    EXPECT_NE(result.out.find("usable: 40"), std::string::npos) << result.out;
  }
}

TEST_F(Cli, PredictOneFilePrintsExactlyTheSentence) {
  const CommandResult result = predict("'" + cat_image(0).string() + "'");
  EXPECT_EQ(result.code, 0) << result.err;
  std::smatch match;
  ASSERT_TRUE(std::regex_match(result.out, match, std::regex(R"(This image seems (\d+)% dog, and (\d+)% cat\.\n)")))
      << result.out;
  EXPECT_EQ(std::stoi(match[1]) + std::stoi(match[2]), 100);
}

TEST_F(Cli, PredictSeveralFilesAndAFolderNameEachFile) {
  const CommandResult files = predict("'" + cat_image(1).string() + "' '" + dog_image(1).string() + "'");
  EXPECT_EQ(files.code, 0) << files.err;
  const auto lines = lines_of(files.out);
  ASSERT_EQ(lines.size(), 2u) << files.out;
  EXPECT_EQ(lines[0].rfind(cat_image(1).string() + ": This image seems ", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1].rfind(dog_image(1).string() + ": This image seems ", 0), 0u) << lines[1];

  const CommandResult folder = predict("'" + (data() / "dog").string() + "'");
  EXPECT_EQ(folder.code, 0) << folder.err;
  const auto folder_lines = lines_of(folder.out);
  ASSERT_EQ(folder_lines.size(), 20u);
  // Sorted by path: dog.0, dog.1, dog.10, ...
  EXPECT_EQ(folder_lines[0].rfind(dog_image(0).string() + ": ", 0), 0u) << folder_lines[0];
  EXPECT_EQ(folder_lines[2].rfind(dog_image(10).string() + ": ", 0), 0u) << folder_lines[2];
}

TEST_F(Cli, PredictJsonLines) {
  const CommandResult result = predict("--json '" + cat_image(2).string() + "' '" + dog_image(2).string() + "'");
  EXPECT_EQ(result.code, 0) << result.err;
  const auto lines = lines_of(result.out);
  ASSERT_EQ(lines.size(), 2u);
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto json = nlohmann::json::parse(lines[i]);
    EXPECT_EQ(json["file"], (i == 0 ? cat_image(2) : dog_image(2)).string());
    const double cat = json["cat"], dog = json["dog"];
    EXPECT_NEAR(cat + dog, 1.0, 1e-6);
    EXPECT_EQ(json["label"], dog > cat ? "dog" : "cat");
    EXPECT_FALSE(json.contains("face"));
  }
}

TEST_F(Cli, BadInputsAreReportedAndTheRestPredicted) {
  TempDir bad;
  const fs::path missing = bad / "missing.jpg", empty = bad / "empty.jpg", text = bad / "notes.jpg",
                 folder = bad / "folder.jpg";
  std::ofstream(empty.string()).flush();
  std::ofstream(text.string()) << "this is not a JPEG\n";
  fs::create_directories(folder);  // a folder with an image name and no images inside
  const CommandResult result = predict("'" + cat_image(3).string() + "' '" + missing.string() + "' '" + empty.string() +
                             "' '" + text.string() + "' '" + folder.string() + "' '" + dog_image(3).string() + "'");
  EXPECT_EQ(result.code, 1);
  const auto out = lines_of(result.out);
  ASSERT_EQ(out.size(), 2u) << result.out;
  EXPECT_EQ(out[0].rfind(cat_image(3).string() + ": ", 0), 0u);
  EXPECT_EQ(out[1].rfind(dog_image(3).string() + ": ", 0), 0u);
  const auto err = lines_of(result.err);
  ASSERT_EQ(err.size(), 4u) << result.err;
  for (const auto& file : {missing, empty, text, folder}) {
    const auto naming = std::count_if(err.begin(), err.end(),
                                      [&](const std::string& line) { return line.find(file.string()) != std::string::npos; });
    EXPECT_EQ(naming, 1) << file << "\n" << result.err;
  }
}

TEST_F(Cli, UnreadableFileIsReported) {
  if (geteuid() == 0) GTEST_SKIP() << "running as root: chmod 000 does not stop root from reading a file";
  TempDir bad;
  const fs::path locked = bad / "locked.jpg";
  fs::copy_file(cat_image(4), locked);
  fs::permissions(locked, fs::perms::none);
  const CommandResult result = predict("'" + locked.string() + "' '" + cat_image(4).string() + "'");
  EXPECT_EQ(result.code, 1);
  EXPECT_EQ(lines_of(result.out).size(), 1u);
  EXPECT_NE(result.err.find(locked.string()), std::string::npos) << result.err;
}

TEST_F(Cli, BadCheckpointsGiveOneLine) {
  TempDir bad;
  const fs::path foreign = bad / "foreign.ckpt";
  std::ofstream(foreign.string()) << "not a checkpoint";
  for (const auto& checkpoint : {bad / "missing.ckpt", foreign}) {
    const CommandResult result = run("predict -q --checkpoint '" + checkpoint.string() + "' '" + cat_image(0).string() + "'");
    EXPECT_NE(result.code, 0);
    EXPECT_EQ(result.out, "");
    EXPECT_EQ(lines_of(result.err).size(), 1u) << result.err;
    EXPECT_NE(result.err.find(checkpoint.string()), std::string::npos) << result.err;
  }
}

TEST_F(Cli, EvalJsonIsOneObjectAndNothingElse) {
  const CommandResult result = run("eval --json --threads 2 --checkpoint '" + checkpoint().string() + "' --data '" +
                         data().string() + "'");
  EXPECT_EQ(result.code, 0) << result.err;
  ASSERT_EQ(lines_of(result.out).size(), 1u) << result.out;
  const auto json = nlohmann::json::parse(result.out);
  EXPECT_EQ(json["images"], 4);  // 10% of 40
  for (const char* key : {"loss", "accuracy", "classes", "confusion", "mistakes", "images_per_second"})
    EXPECT_TRUE(json.contains(key)) << key;
}

TEST_F(Cli, EvalAndPredictWithTestTimeAugmentation) {
  const std::string eval = "eval --json --threads 2 --checkpoint '" + checkpoint().string() + "' --data '" +
                           data().string() + "'";
  const CommandResult plain = run(eval), tta = run(eval + " --tta");
  EXPECT_EQ(tta.code, 0) << tta.err;
  const auto plain_json = nlohmann::json::parse(plain.out), tta_json = nlohmann::json::parse(tta.out);
  EXPECT_EQ(plain_json["tta"], false);
  EXPECT_EQ(tta_json["tta"], true);
  EXPECT_EQ(tta_json["images"], plain_json["images"]);
  EXPECT_NE(tta_json["loss"], plain_json["loss"]) << "the mirror images change the scratch model's answers";
  const CommandResult text = run("eval -q --tta --threads 2 --checkpoint '" + checkpoint().string() + "' --data '" +
                                 data().string() + "'");
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("tta:"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("accuracy:"), std::string::npos) << text.out;

  const CommandResult sentence = predict("--tta '" + cat_image(1).string() + "'");
  EXPECT_EQ(sentence.code, 0) << sentence.err;
  EXPECT_TRUE(std::regex_match(sentence.out, kSentenceLine)) << sentence.out;
  const CommandResult lines = predict("--json --tta '" + cat_image(1).string() + "'");
  const CommandResult plain_lines = predict("--json '" + cat_image(1).string() + "'");
  EXPECT_EQ(lines.code, 0) << lines.err;
  const auto line = nlohmann::json::parse(lines.out), plain_line = nlohmann::json::parse(plain_lines.out);
  EXPECT_EQ(line["tta"], true);
  EXPECT_EQ(plain_line["tta"], false);
  EXPECT_NEAR(line["cat"].get<double>() + line["dog"].get<double>(), 1.0, 1e-6);
  EXPECT_NE(line["dog"], plain_line["dog"]);
}

TEST_F(Cli, EvalTextAndPictures) {
  TempDir out;
  const CommandResult result = run("eval -q --threads 2 --checkpoint '" + checkpoint().parent_path().string() +
                                   "' --data '" +
                         data().string() + "' --grid '" + (out / "grid.png").string() + "'");
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_NE(result.out.find("accuracy:"), std::string::npos) << result.out;
  for (const char* file : {"grid.png", "confusion.png", "misclassified.csv"}) EXPECT_TRUE(fs::exists(out / file)) << file;
}

TEST_F(Cli, FaceModeWithAndWithoutAFace) {
  TempDir out;
  const CommandResult pet = predict("--face --json '" + cat_image(5).string() + "'");
  EXPECT_EQ(pet.code, 0) << pet.err;
  EXPECT_EQ(nlohmann::json::parse(pet.out)["face"]["found"], false);
  EXPECT_NE(pet.err.find("no face found"), std::string::npos) << pet.err;

  const fs::path photo = testing::shared_dir() / "weights/testimgs/grace_hopper.png";
  if (testing::shared_dir().empty() || !fs::exists(photo)) GTEST_SKIP() << "no " << photo << " here";
  const CommandResult person = predict("--face --json --save-crop '" + (out / "crop.png").string() + "' '" + photo.string() + "'");
  EXPECT_EQ(person.code, 0) << person.err;
  const auto json = nlohmann::json::parse(person.out);
  EXPECT_EQ(json["face"]["found"], true);
  EXPECT_EQ(json["face"]["box"].size(), 4u);
  EXPECT_TRUE(fs::exists(out / "crop.png"));
  const CommandResult sentence = predict("--face '" + photo.string() + "'");
  EXPECT_TRUE(std::regex_match(sentence.out, std::regex(R"(This image seems \d+% dog, and \d+% cat\.\n)"))) << sentence.out;
}

TEST_F(Cli, SaveCropNeedsFaceMode) {
  const CommandResult result = predict("--save-crop /tmp/x.png '" + cat_image(0).string() + "'");
  EXPECT_NE(result.code, 0);
  EXPECT_NE(result.err.find("--face"), std::string::npos) << result.err;
}

TEST_F(Cli, AnnotateWritesOnePicturePerImage) {
  TempDir out;
  const CommandResult result = predict("--annotate '" + out.path().string() + "' '" + cat_image(6).string() + "' '" +
                             dog_image(6).string() + "'");
  EXPECT_EQ(result.code, 0) << result.err;
  for (const char* name : {"cat.6.jpg", "dog.6.jpg"}) {
    const cv::Mat picture = cv::imread((out / name).string());
    ASSERT_FALSE(picture.empty()) << name;
    EXPECT_EQ(picture.cols, 200);  // the image itself plus a banner below
    EXPECT_GT(picture.rows, 150);
  }
}

TEST_F(Cli, ExplainWritesAHeatMapOverlayPerImage) {
  TempDir out;
  const CommandResult result = predict("--explain '" + out.path().string() + "' '" + cat_image(6).string() + "' '" +
                                       dog_image(6).string() + "'");
  EXPECT_EQ(result.code, 0) << result.err;
  for (const char* name : {"cat.6.jpg", "dog.6.jpg"}) {
    const cv::Mat picture = cv::imread((out / name).string());
    ASSERT_FALSE(picture.empty()) << name;
    // The 200 x 150 photo enlarged to 320 px on its shorter side, a verdict banner and a colour key below.
    ASSERT_EQ(picture.cols, 427) << name;
    ASSERT_EQ(picture.rows, 320 + 36 + 28) << name;
    cv::Mat photo = cv::imread((name[0] == 'c' ? cat_image(6) : dog_image(6)).string());
    cv::resize(photo, photo, cv::Size(427, 320), 0, 0, cv::INTER_CUBIC);
    const cv::Mat overlay = picture(cv::Rect(0, 0, 427, 320));
    EXPECT_GT(cv::norm(overlay, photo, cv::NORM_L1) / overlay.total(), 10.0) << "the heat map is blended in";
    cv::Mat banner;
    cv::cvtColor(picture(cv::Rect(0, 320, 427, 36)), banner, cv::COLOR_BGR2GRAY);
    EXPECT_GT(cv::countNonZero(banner > 200), 100) << "the verdict in white on the dark banner";
    // The key shows the map's colours from none (dark blue) to most (red).
    const cv::Mat key = picture(cv::Rect(0, picture.rows - 28, 427, 28));
    int blue = 0, red = 0;
    for (auto pixel = key.begin<cv::Vec3b>(); pixel != key.end<cv::Vec3b>(); ++pixel) {
      const auto [b, g, r] = std::make_tuple((*pixel)[0], (*pixel)[1], (*pixel)[2]);
      blue += b > 110 && g < 60 && r < 60;
      red += r > 110 && g < 60 && b < 60;
    }
    EXPECT_GT(blue, 10) << name;
    EXPECT_GT(red, 10) << name;
  }
}

// Issue 22, item 18: an output folder that cannot be written stops the
// command before any work (not after the first image, or after the whole
// test split without its metrics). As root, a path below a file stands in
// for a read-only folder.
TEST_F(Cli, OutputFoldersThatCannotBeWrittenStopTheCommandFirst) {
  TempDir out;
  std::ofstream(out / "a-file") << "not a folder";
  const std::string blocked = (out / "a-file" / "pictures").string();
  const std::string images = "'" + cat_image(1).string() + "' '" + cat_image(2).string() + "'";
  for (const std::string flag : {"--annotate", "--explain"}) {
    const CommandResult result = predict(flag + " '" + blocked + "' " + images);
    EXPECT_EQ(result.code, 1) << flag;
    EXPECT_EQ(result.out, "") << flag << ": nothing is predicted";
    EXPECT_EQ(result.err, "catdog: error: " + flag + " " + blocked +
                              ": cannot create it (Not a directory); choose a "
                              "folder you can write to\n");
  }
  const CommandResult eval = run("eval -q --threads 2 --checkpoint '" + checkpoint().string() + "' --data '" +
                                 data().string() + "' --grid '" + blocked + "/grid.png'");
  EXPECT_EQ(eval.code, 1);
  EXPECT_EQ(eval.out, "");
  EXPECT_NE(eval.err.find("--grid " + blocked + ": cannot create it"), std::string::npos) << eval.err;
  if (geteuid() == 0) return;  // the read-only folder itself: root writes into it
  fs::create_directories(out / "read-only");
  fs::permissions(out / "read-only", fs::perms::owner_read | fs::perms::owner_exec);
  const CommandResult read_only = predict("--annotate '" + (out / "read-only").string() + "' " + images);
  EXPECT_EQ(read_only.code, 1);
  EXPECT_NE(read_only.err.find("cannot write into it (Permission denied)"), std::string::npos) << read_only.err;
}

// Issue 22, item 13: a JPEG cut short is classified with a warning, in text and JSON.
TEST_F(Cli, ADamagedImageIsPredictedWithAWarning) {
  TempDir dir;
  const fs::path cut = dir / "cut.jpg";
  fs::copy_file(dog_image(3), cut);
  fs::resize_file(cut, fs::file_size(cut) * 3 / 10);
  const CommandResult text = predict("'" + cut.string() + "'");
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_TRUE(std::regex_match(text.out, kSentenceLine)) << text.out;
  EXPECT_EQ(text.err, "catdog: warning: " + cut.string() +
                          ": the image is damaged (Premature end of JPEG file): only "
                          "part of it decoded, and the verdict is on that part\n");
  const CommandResult json = predict("--json '" + cut.string() + "'");
  EXPECT_EQ(json.code, 0) << json.err;
  EXPECT_NE(nlohmann::json::parse(json.out)["warning"].get<std::string>().find("the image is damaged"),
            std::string::npos)
      << json.out;
}

TEST_F(Cli, DataCountsAGeneratedDataset) {
  const CommandResult result = run("data -q --data '" + data().string() + "'");
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_NE(result.out.find("usable: 40"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("train"), std::string::npos) << result.out;
}

TEST_F(Cli, DataAndSummaryJson) {
  const CommandResult data_json = run("data -q --json --data '" + data().string() + "'");
  EXPECT_EQ(data_json.code, 0) << data_json.err;
  EXPECT_EQ(nlohmann::json::parse(data_json.out)["usable"], 40);
  const CommandResult summary = run("summary --json --model scratch");
  EXPECT_EQ(summary.code, 0) << summary.err;
  EXPECT_EQ(nlohmann::json::parse(summary.out)["total_parameters"], 13132322);
  const CommandResult fine_tuned = run("summary --json --model mobilenetv2 --fine-tune");
  EXPECT_EQ(fine_tuned.code, 0) << fine_tuned.err;
  EXPECT_EQ(nlohmann::json::parse(fine_tuned.out)["trainable_parameters"], 2518338);
  const CommandResult unknown_layer = run("summary --model vgg16 --fine-tune --unfreeze-from block_99");
  EXPECT_EQ(unknown_layer.code, 1);
  EXPECT_NE(unknown_layer.err.find("block5_conv1"), std::string::npos) << unknown_layer.err;
  const CommandResult scratch = run("train -q --model scratch --fine-tune --data '" + data().string() + "'");
  EXPECT_EQ(scratch.code, 1);
  EXPECT_NE(scratch.err.find("needs a pretrained backbone"), std::string::npos) << scratch.err;
}

TEST_F(Cli, PredictJsonHasALineForEveryInputFailedOnesWithAnError) {
  TempDir bad;
  const fs::path missing = bad / "missing.jpg";
  const CommandResult result = predict("--json '" + cat_image(7).string() + "' '" + missing.string() + "'");
  EXPECT_EQ(result.code, 1);
  const auto lines = lines_of(result.out);
  ASSERT_EQ(lines.size(), 2u) << result.out;
  EXPECT_FALSE(nlohmann::json::parse(lines[0]).contains("error"));
  const auto failed = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(failed["file"], missing.string());
  EXPECT_NE(failed["error"].get<std::string>().find("no such file"), std::string::npos) << lines[1];
}

// Issue 10 item 10: file names are bytes; JSON output must not fail on them.
TEST_F(Cli, PredictJsonEscapesFileNamesThatAreNotUtf8) {
  TempDir dir;
  const fs::path odd = dir / "caf\xe9-\xff.jpg";
  fs::copy_file(cat_image(8), odd);
  const CommandResult result = predict("--json '" + odd.string() + "'");
  EXPECT_EQ(result.code, 0) << result.err;
  const auto json = nlohmann::json::parse(result.out);
  EXPECT_EQ(json["file"], (dir / "caf\\xe9-\\xff.jpg").string());
  EXPECT_EQ(json["file_escaped"], true);
}

// Issue 10 item 11: a FIFO would block a read forever.
TEST_F(Cli, PredictRefusesFilesThatAreNotRegular) {
  TempDir dir;
  const fs::path fifo = dir / "pipe.jpg";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const CommandResult result = predict("'" + fifo.string() + "' '" + cat_image(9).string() + "'");
  EXPECT_EQ(result.code, 1);
  EXPECT_NE(result.err.find("not a regular file"), std::string::npos) << result.err;
  EXPECT_EQ(lines_of(result.out).size(), 1u);
}

// Issue 10 item 4: --max-pixels reaches predict's decoder; an image over it is one error line.
TEST_F(Cli, PredictSkipsAnImageOverThePixelCap) {
  const CommandResult result = predict("--max-pixels 100 '" + cat_image(9).string() + "'");
  EXPECT_EQ(result.code, 1);
  EXPECT_NE(result.err.find(cat_image(9).string()), std::string::npos) << result.err;
  EXPECT_TRUE(result.out.empty()) << result.out;
  EXPECT_EQ(predict("'" + cat_image(9).string() + "'").code, 0);  // under the default cap it is predicted
}

// Issue 10 item 7: --annotate never writes over an input, and keeps the paths under a folder.
TEST_F(Cli, AnnotateNeverOverwritesAnInputAndKeepsRelativePaths) {
  TempDir dir;
  fs::create_directories(dir / "photos" / "a");
  fs::create_directories(dir / "photos" / "b");
  fs::copy_file(cat_image(10), dir / "photos" / "a" / "x.jpg");
  fs::copy_file(dog_image(10), dir / "photos" / "b" / "x.jpg");
  const std::string original = read_text(dir / "photos" / "a" / "x.jpg");

  const CommandResult beside = predict("--annotate '" + (dir / "photos" / "a").string() + "' '" +
                                       (dir / "photos" / "a" / "x.jpg").string() + "'");
  EXPECT_EQ(beside.code, 0) << beside.err;
  EXPECT_EQ(read_text(dir / "photos" / "a" / "x.jpg"), original);
  EXPECT_TRUE(fs::exists(dir / "photos" / "a" / "x-2.jpg"));

  const CommandResult folder =
      predict("--annotate '" + (dir / "out").string() + "' '" + (dir / "photos").string() + "'");
  EXPECT_EQ(folder.code, 0) << folder.err;
  EXPECT_TRUE(fs::exists(dir / "out" / "a" / "x.jpg"));
  EXPECT_TRUE(fs::exists(dir / "out" / "b" / "x.jpg"));
}

TEST_F(Cli, EvalWarnsWhenTheDatasetIsNotTheTrainingOne) {
  const CommandResult same = run("eval --threads 2 --checkpoint '" + checkpoint().string() + "' --data '" +
                                 data().string() + "'");
  EXPECT_EQ(same.code, 0) << same.err;
  EXPECT_EQ(same.err.find("is not the dataset"), std::string::npos) << same.err;
  TempDir other;
  testing::write_synthetic_dataset(other.path(), 15);
  const CommandResult different = run("eval -q --threads 2 --checkpoint '" + checkpoint().string() + "' --data '" +
                                      other.path().string() + "'");
  EXPECT_EQ(different.code, 0) << different.err;
  EXPECT_NE(different.err.find("is not the dataset this checkpoint was trained on"), std::string::npos)
      << different.err;
}

TEST_F(Cli, TrainRefusesAnExistingRunAndAnEmptyClass) {
  TempDir previous;  // a run with a checkpoint to resume from
  fs::copy_file(checkpoint(), previous / "last.ckpt");
  const CommandResult existing =
      run("train -q --threads 2 --epochs 1 --data '" + data().string() + "' --out '" + previous.path().string() + "'");
  EXPECT_EQ(existing.code, 1);
  EXPECT_NE(existing.err.find("--resume"), std::string::npos) << existing.err;
  EXPECT_NE(existing.err.find("--exist-ok"), std::string::npos) << existing.err;

  TempDir cats_only;
  testing::write_synthetic_dataset(cats_only.path(), 10);
  fs::remove_all(cats_only / "dog");
  fs::create_directories(cats_only / "dog");
  const CommandResult empty = run("train -q --threads 2 --epochs 1 --data '" + cats_only.path().string() +
                                  "' --out '" + (cats_only / "run").string() + "'");
  EXPECT_EQ(empty.code, 1);
  // The run folder made inside the dataset is a third folder: the empty dog/ is then left out too.
  EXPECT_NE(empty.err.find("none in dog, run: a classifier needs two or more classes"), std::string::npos)
      << empty.err;
  EXPECT_FALSE(fs::exists(cats_only / "run"));  // a failed start leaves no run behind
}

// Folders of 3 and 7 classes made here: train, save, eval and predict end to
// end, the classes read from the checkpoint.
TEST_F(Cli, FoldersOfThreeAndSevenClassesTrainEvalAndPredict) {
  const std::vector<std::vector<std::string>> datasets = {{"bird", "cat", "dog"}, {"a", "b", "c", "d", "e", "f", "g"}};
  for (const auto& classes : datasets) {
    const auto n = classes.size();
    TempDir work;
    testing::write_class_folders(work / "data", classes, 10);
    const std::string data = " --data '" + (work / "data").string() + "'";
    const CommandResult listed = run("data -q" + data);
    ASSERT_EQ(listed.code, 0) << listed.err;
    EXPECT_NE(listed.out.find("split (seed 20260101, stratified)"), std::string::npos) << listed.out;
    EXPECT_NE(listed.out.find("test               1       1       1"), std::string::npos) << listed.out;

    const CommandResult train =
        run("train -q --threads 2 --epochs 1 --batch-size 16" + data + " --out '" + (work / "run").string() + "'");
    ASSERT_EQ(train.code, 0) << train.err;
    const fs::path checkpoint_file = work / "run" / "best.ckpt";
    const auto checkpoint = load_checkpoint(checkpoint_file, torch::kCPU);
    EXPECT_EQ(checkpoint.meta.class_names, classes);
    EXPECT_EQ(checkpoint.model->num_classes(), static_cast<int64_t>(n));

    const CommandResult eval = run("eval -q --threads 2 --json --checkpoint '" + checkpoint_file.string() + "'" + data);
    ASSERT_EQ(eval.code, 0) << eval.err;
    const auto report = nlohmann::json::parse(eval.out);
    EXPECT_EQ(report["class_names"], classes);
    EXPECT_EQ(report["images"], n) << "one test image per class";
    ASSERT_EQ(report["confusion"].size(), n);
    EXPECT_EQ(report["confusion"][0].size(), n);
    EXPECT_EQ(report["classes"].size(), n);
    EXPECT_EQ(report["macro_avg"]["support"], n);
    EXPECT_EQ(report["top5_accuracy"].is_number(), n > 5);
    const CommandResult text = run("eval -q --threads 2 --checkpoint '" + checkpoint_file.string() + "'" + data +
                                   " --grid '" + (work / "pictures" / "grid.png").string() + "'");
    ASSERT_EQ(text.code, 0) << text.err;
    EXPECT_NE(text.out.find("weighted avg"), std::string::npos) << text.out;
    EXPECT_EQ(text.out.find("top-5:") != std::string::npos, n > 5) << text.out;
    EXPECT_TRUE(fs::exists(work / "pictures" / "confusion.png"));

    const fs::path image = work / "data" / classes[1] / (classes[1] + ".0.png");
    const CommandResult sentence = run("predict -q --threads 2 --checkpoint '" + checkpoint_file.string() + "' '" +
                                       image.string() + "'");
    ASSERT_EQ(sentence.code, 0) << sentence.err;
    EXPECT_TRUE(std::regex_match(sentence.out, std::regex(R"(This image seems \d+% \w+, \d+% \w+ and \d+% \w+\.\n)")))
        << sentence.out;
    const CommandResult top2 = run("predict -q --threads 2 --top-k 2 --checkpoint '" + checkpoint_file.string() +
                                   "' '" + image.string() + "'");
    EXPECT_TRUE(std::regex_match(top2.out, std::regex(R"(This image seems \d+% \w+ and \d+% \w+\.\n)"))) << top2.out;
    const CommandResult json = run("predict -q --threads 2 --json --checkpoint '" + checkpoint_file.string() + "' '" +
                                   image.string() + "'");
    ASSERT_EQ(json.code, 0) << json.err;
    const auto line = nlohmann::json::parse(json.out);
    ASSERT_EQ(line["probabilities"].size(), n);
    double total = 0;
    for (const auto& name : classes) total += line["probabilities"][name].get<double>();
    EXPECT_NEAR(total, 1.0, 1e-6);
    EXPECT_FALSE(line.contains("dog")) << "cat and dog fields are cat/dog checkpoints' alone";
    EXPECT_NE(std::find(classes.begin(), classes.end(), line["label"].get<std::string>()), classes.end());
  }
}

// A run trained at 96 px: eval, predict (with TTA and Grad-CAM) and export
// read the size from its checkpoint, never from a flag; --resume keeps it
// and refuses another. Scratch and MobileNetV2 (generated Keras weights).
TEST_F(Cli, ARunAtAnotherImageSizeIsFollowedWithoutBeingToldTheSize) {
  for (const std::string model : {"scratch", "mobilenetv2"}) {
    SCOPED_TRACE(model);
    TempDir work;
    const fs::path run_folder = work / "run";
    const std::string weights =
        model == "scratch" ? ""
                           : " --weights " + testing::quoted(testing::generated_keras_weights(ModelKind::MobileNetV2));
    const std::string data_flag = " --data " + testing::quoted(data());
    const CommandResult train = run("train -q --threads 2 --epochs 1 --batch-size 16 --image-size 96 --model " + model +
                                    weights + data_flag + " --out " + testing::quoted(run_folder));
    ASSERT_EQ(train.code, 0) << train.err;
    EXPECT_EQ(nlohmann::json::parse(read_text(run_folder / "settings.json"))["image_size"], 96);
    const fs::path best = run_folder / "best.ckpt";
    const auto checkpoint = load_checkpoint(best, torch::kCPU);
    EXPECT_EQ(checkpoint.meta.image_size, 96);
    EXPECT_EQ(checkpoint.model->image_size(), 96);
    EXPECT_EQ(checkpoint.meta.preprocessing, "RGB, bilinear resize to 96x96, x / 127.5 - 1");
    const std::string with_checkpoint = " --checkpoint " + testing::quoted(best);

    const CommandResult eval = run("eval -q --threads 2 --json --tta" + with_checkpoint + data_flag);
    ASSERT_EQ(eval.code, 0) << eval.err;
    EXPECT_EQ(nlohmann::json::parse(eval.out)["images"], 4);
    const CommandResult grid = run("eval -q --threads 2" + with_checkpoint + data_flag + " --grid " +
                                   testing::quoted(work / "pictures" / "grid.png"));
    ASSERT_EQ(grid.code, 0) << grid.err;
    EXPECT_TRUE(fs::exists(work / "pictures" / "grid.png"));

    const CommandResult prediction = run("predict -q --threads 2 --tta --explain " + testing::quoted(work / "heat") +
                                         with_checkpoint + " " + testing::quoted(cat_image(0)));
    ASSERT_EQ(prediction.code, 0) << prediction.err;
    EXPECT_TRUE(std::regex_match(prediction.out, kSentenceLine)) << prediction.out;
    EXPECT_FALSE(fs::is_empty(work / "heat"));

    const CommandResult onnx =
        run("export --format onnx" + with_checkpoint + " -o " + testing::quoted(work / "m.onnx"));
    ASSERT_EQ(onnx.code, 0) << onnx.err;
    EXPECT_NE(onnx.out.find("input [N, 3, 96, 96]"), std::string::npos) << onnx.out;
    const CommandResult script =
        run("export --format torchscript" + with_checkpoint + " -o " + testing::quoted(work / "m.pt"));
    ASSERT_EQ(script.code, 0) << script.err;
    EXPECT_NE(script.out.find("input [N, 3, 96, 96]"), std::string::npos) << script.out;

    const std::string resume =
        "train -q --threads 2 --epochs 2 --resume --out " + testing::quoted(run_folder) + data_flag;
    const CommandResult other_size = run(resume + " --image-size 128");
    EXPECT_EQ(other_size.code, 1);
    EXPECT_NE(other_size.err.find("its 96 px input size"), std::string::npos) << other_size.err;
    const CommandResult resumed = run(resume);
    ASSERT_EQ(resumed.code, 0) << resumed.err;
    EXPECT_EQ(load_checkpoint(run_folder / "last.ckpt", torch::kCPU).meta.image_size, 96);
  }
}

// Scratch's Dense layer follows the input size; summary counts it at the size asked and says so.
TEST_F(Cli, SummaryCountsScratchAtTheImageSizeAsked) {
  const int64_t convolutions = (3 * 3 * 3 * 16 + 16) + (3 * 3 * 16 * 32 + 32) + (3 * 3 * 32 * 64 + 64);
  const int64_t at_224 = convolutions + ((224 / 8) * (224 / 8) * 64 * 512 + 512) + (512 * 2 + 2);
  const CommandResult json = run("summary --json --model scratch --image-size 224");
  ASSERT_EQ(json.code, 0) << json.err;
  const auto summary = nlohmann::json::parse(json.out);
  EXPECT_EQ(summary["total_parameters"], at_224);
  EXPECT_EQ(summary["image_size"], 224);
  EXPECT_TRUE(summary["native_image_size"].is_null());
  const CommandResult text = run("summary --model scratch --image-size 224");
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("Total params: 25,715,234"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("the parameter count depends on it"), std::string::npos) << text.out;
  const CommandResult mobilenet = run("summary --json --model mobilenetv2");
  ASSERT_EQ(mobilenet.code, 0) << mobilenet.err;
  EXPECT_EQ(nlohmann::json::parse(mobilenet.out)["native_image_size"], 224);
  EXPECT_EQ(nlohmann::json::parse(mobilenet.out)["image_size"], 160);
  // A leading zero is decimal, as in every whole-number flag (CLI11 alone reads 0224 as octal 148).
  const CommandResult zero = run("summary --json --model scratch --image-size 0224");
  ASSERT_EQ(zero.code, 0) << zero.err;
  EXPECT_EQ(nlohmann::json::parse(zero.out)["image_size"], 224);
  const CommandResult ten = run("summary --json --model scratch --num-classes 010");
  ASSERT_EQ(ten.code, 0) << ten.err;
  EXPECT_EQ(nlohmann::json::parse(ten.out)["layers"].back()["output_shape"], "(None, 10)");
}

TEST_F(Cli, ACheckpointOnADatasetOfOtherClassesIsOneErrorNamingBoth) {
  TempDir work;
  testing::write_class_folders(work / "fruit", {"apple", "pear", "plum"}, 10);
  const CommandResult eval = run("eval -q --threads 2 --checkpoint '" + checkpoint().string() + "' --data '" +
                                 (work / "fruit").string() + "'");
  EXPECT_EQ(eval.code, 1);
  EXPECT_EQ(lines_of(eval.err).size(), 1u) << eval.err;
  EXPECT_NE(eval.err.find("trained on classes [cat, dog] but dataset " + (work / "fruit").string() +
                          " has [apple, pear, plum]"),
            std::string::npos)
      << eval.err;
  // A --classes subset is counted, trained and evaluated on those classes alone.
  const CommandResult counted =
      run("data -q --json --classes plum,apple --data '" + (work / "fruit").string() + "'");
  ASSERT_EQ(counted.code, 0) << counted.err;
  const auto counts = nlohmann::json::parse(counted.out);
  EXPECT_EQ(counts["class_names"], (std::vector<std::string>{"apple", "plum"}));
  EXPECT_EQ(counts["split"]["test"]["total"], 2) << counted.out;
  EXPECT_FALSE(counts["split"]["train"].contains("pear")) << counted.out;
  const CommandResult train = run("train -q --threads 2 --epochs 1 --classes plum,apple --data '" +
                                  (work / "fruit").string() + "' --out '" + (work / "run").string() + "'");
  ASSERT_EQ(train.code, 0) << train.err;
  EXPECT_EQ(load_checkpoint(work / "run" / "best.ckpt", torch::kCPU).meta.class_names,
            (std::vector<std::string>{"apple", "plum"}));
  const CommandResult subset = run("eval -q --threads 2 --json --checkpoint '" + (work / "run").string() +
                                   "' --data '" + (work / "fruit").string() + "'");
  ASSERT_EQ(subset.code, 0) << subset.err;
  EXPECT_EQ(nlohmann::json::parse(subset.out)["images"], 2);
}

TEST_F(Cli, MissingDataFolderIsOneClearLine) {
  const CommandResult result = run("data -q --data '" + (dir_->path() / "no-such-folder").string() + "'");
  EXPECT_NE(result.code, 0);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(lines_of(result.err).size(), 1u) << result.err;
  EXPECT_NE(result.err.find("no-such-folder"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("point --data (or CATDOG_DATA) at a folder"), std::string::npos) << result.err;
}

// Weights fetched on first use, through a mirror: ../shared's MobileNetV2 file
// is real but not Keras' exact bytes (its SOURCES.md says why), so served
// under Keras' name it fails the registry's check: one line that says so and
// names --weights, and nothing left in the cache.
TEST_F(Cli, MirroredWeightsThatAreNotKerasOwnAreRefused) {
  const fs::path shared = testing::shared_dir();
  if (shared.empty()) GTEST_SKIP() << "../shared is absent";
  const ModelSpec& spec = model_spec(ModelKind::MobileNetV2);
  TempDir mirror, cache, work;
  fs::create_symlink(shared / "weights" / "mobilenet_v2_1.0_no_top.h5", mirror / spec.keras_weights_file);
  testing::LoopbackServer server;
  server.server().set_mount_point("/keras", mirror.path().string());
  server.start();
  const testing::ScopedEnv cache_home("XDG_CACHE_HOME", cache.path().c_str());
  const testing::ScopedEnv mirror_url("CATDOG_WEIGHTS_URL", (server.url() + "/keras").c_str());
  const CommandResult result = run("train -q --threads 2 --model mobilenetv2 --epochs 1 --data '" + data().string() +
                                       "' --out run",
                                   work.path());
  EXPECT_EQ(result.code, 1);
  ASSERT_EQ(lines_of(result.err).size(), 1u) << result.err;
  EXPECT_NE(result.err.find(server.url() + "/keras/" + spec.keras_weights_file + " fails the size and MD5 check (" +
                            std::to_string(fs::file_size(shared / "weights" / "mobilenet_v2_1.0_no_top.h5")) +
                            " bytes where " + std::to_string(spec.weights_bytes) + " were expected)"),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("--weights FILE"), std::string::npos) << result.err;
  const fs::path cached = cache / "catdog" / "weights" / spec.keras_weights_file;
  EXPECT_FALSE(fs::exists(cached));
  EXPECT_FALSE(fs::exists(cached.string() + ".part"));
  EXPECT_FALSE(fs::exists(work / "run"));  // a failed start leaves no run folder
}

}  // namespace
}  // namespace catdog
