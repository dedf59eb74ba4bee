#include <fstream>
#include <sstream>

#include "catdog/error.h"
#include "catdog/history.h"
#include "test_support.h"

namespace {

catdog::History sample_history() {
  return {{1, 0.6931471805599453, 0.5, 0.69, 0.51, 12.5}, {2, 0.1 + 0.2, 1.0 / 3.0, 0.25, 0.875, 11.0}};
}

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST(History, JsonRoundTripIsExact) {
  const auto history = sample_history();
  const auto json = history_to_json(history);
  ASSERT_EQ(json.size(), 2u);
  EXPECT_EQ(json[1]["epoch"], 2);
  EXPECT_EQ(json[0]["val_accuracy"], 0.51);
  const auto back = catdog::history_from_json(nlohmann::json::parse(json.dump()));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].loss, 0.1 + 0.2);
  EXPECT_EQ(back[1].accuracy, 1.0 / 3.0);
  EXPECT_EQ(back[0].seconds, 12.5);
}

TEST(History, MalformedJsonIsAnError) {
  EXPECT_THROW(catdog::history_from_json(nlohmann::json::object()), catdog::Error);
  EXPECT_THROW(catdog::history_from_json(nlohmann::json::parse(R"([{"epoch": 1}])")), catdog::Error);
}

TEST(History, WritesCsvAndJsonFiles) {
  catdog::testing::TempDir dir;
  const auto history = sample_history();
  catdog::write_history_files(history, dir.path());

  std::istringstream csv(read_text(dir / "history.csv"));
  std::string header, row1, row2, extra;
  std::getline(csv, header);
  std::getline(csv, row1);
  std::getline(csv, row2);
  EXPECT_EQ(header, "epoch,loss,accuracy,val_loss,val_accuracy,seconds");
  EXPECT_EQ(row1, "1,0.69314718055994529,0.5,0.68999999999999995,0.51000000000000001,12.5");
  // Full precision: every value reads back to the same double.
  std::istringstream fields(row2);
  std::string field;
  std::vector<double> values;
  while (std::getline(fields, field, ',')) values.push_back(std::stod(field));
  ASSERT_EQ(values.size(), 6u);
  EXPECT_EQ(values[1], 0.1 + 0.2);
  EXPECT_EQ(values[2], 1.0 / 3.0);
  EXPECT_FALSE(std::getline(csv, extra));

  const auto json_back = catdog::history_from_json(nlohmann::json::parse(read_text(dir / "history.json")));
  ASSERT_EQ(json_back.size(), 2u);
  EXPECT_EQ(json_back[1].val_accuracy, 0.875);
  EXPECT_FALSE(std::filesystem::exists(dir / "history.csv.tmp"));
}

TEST(History, RewritingReplacesOldRows) {
  catdog::testing::TempDir dir;
  catdog::write_history_files(sample_history(), dir.path());
  catdog::write_history_files({sample_history()[0]}, dir.path());
  EXPECT_EQ(catdog::history_from_json(nlohmann::json::parse(read_text(dir / "history.json"))).size(), 1u);
  const auto csv = read_text(dir / "history.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 2);
}

TEST(History, UnwritableFolderIsAnError) {
  catdog::testing::TempDir dir;
  EXPECT_THROW(catdog::write_history_files(sample_history(), dir / "missing" / "run"), catdog::Error);
}
