// CLI-level tests: the built `catdog` binary run as a user would, stdout and
// stderr captured to files.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_support.h"

namespace catdog {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

struct CommandResult {
  int code = -1;
  std::string out, err;
};

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

const std::regex kSentence(R"(This image seems (\d+)% dog, and (\d+)% cat\.)");

class Cli : public ::testing::Test {
 protected:
  // One tiny scratch model for every test of this binary.
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    testing::write_synthetic_dataset(data(), 20);
    const CommandResult train = run("train --epochs 1 --batch-size 16 --data " + data().string() + " --out " +
                          (dir_->path() / "run").string() + " -q --threads 2");
    ASSERT_EQ(train.code, 0) << train.err;
    ASSERT_TRUE(fs::exists(checkpoint())) << train.out << train.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static fs::path data() { return dir_->path() / "data"; }
  static fs::path checkpoint() { return dir_->path() / "run" / "best.ckpt"; }
  static fs::path cat_image(int i) { return data() / "cat" / ("cat." + std::to_string(i) + ".jpg"); }
  static fs::path dog_image(int i) { return data() / "dog" / ("dog." + std::to_string(i) + ".jpg"); }

  static CommandResult run(const std::string& arguments) {
    static int counter = 0;
    const fs::path out = dir_->path() / ("out" + std::to_string(counter)), err = dir_->path() / ("err" + std::to_string(counter));
    ++counter;
    const std::string command =
        "'" + testing::catdog_binary().string() + "' " + arguments + " >'" + out.string() + "' 2>'" + err.string() + "'";
    const int status = std::system(command.c_str());
    CommandResult result;
    result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = read_text(out);
    result.err = read_text(err);
    return result;
  }
  static CommandResult predict(const std::string& arguments) {
    return run("predict -q --threads 2 --checkpoint '" + checkpoint().string() + "' " + arguments);
  }

  static TempDir* dir_;
};
TempDir* Cli::dir_ = nullptr;

TEST_F(Cli, HelpAndVersion) {
  const CommandResult help = run("--help");
  EXPECT_EQ(help.code, 0);
  for (const char* command : {"data", "summary", "train", "eval", "predict"})
    EXPECT_NE(help.out.find(command), std::string::npos) << command;
  const CommandResult version = run("--version");
  EXPECT_EQ(version.code, 0);
  EXPECT_EQ(version.out, std::string("catdog ") + CATDOG_VERSION + "\n");
  const std::vector<std::pair<std::string, std::string>> flags = {
      {"data", "--split-seed"}, {"summary", "--model"}, {"train", "--epochs"}, {"eval", "--grid"}, {"predict", "--face"}};
  for (const auto& [command, flag] : flags) {
    const CommandResult sub = run(command + " --help");
    EXPECT_EQ(sub.code, 0) << command;
    EXPECT_NE(sub.out.find(flag), std::string::npos) << command << ": " << sub.out;
  }
}

TEST_F(Cli, UnknownFlagsAndMissingArgumentsFail) {
  EXPECT_NE(run("predict --no-such-flag x.jpg").code, 0);
  EXPECT_NE(run("predict").code, 0);  // no image
  EXPECT_NE(run("").code, 0);         // no subcommand
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

TEST_F(Cli, EvalTextAndPictures) {
  TempDir out;
  const CommandResult result = run("eval -q --threads 2 --checkpoint '" + (dir_->path() / "run").string() + "' --data '" +
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

TEST_F(Cli, DataCountsAGeneratedDataset) {
  const CommandResult result = run("data -q --data '" + data().string() + "'");
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_NE(result.out.find("usable: 40"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("train"), std::string::npos) << result.out;
}

TEST_F(Cli, MissingDataFolderIsOneClearLine) {
  const CommandResult result = run("data -q --data '" + (dir_->path() / "no-such-folder").string() + "'");
  EXPECT_NE(result.code, 0);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(lines_of(result.err).size(), 1u) << result.err;
  EXPECT_NE(result.err.find("no-such-folder"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace catdog
