#include <cmath>
#include <limits>
#include <sstream>

#include <gtest/gtest.h>

#include "catdog/base/error.h"
#include "catdog/store/history.h"

namespace {

catdog::History sample_history() {
  return {{1, 0.6931471805599453, 0.5, 0.69, 0.51, 12.5}, {2, 0.1 + 0.2, 1.0 / 3.0, 0.25, 0.875, 11.0}};
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

// history.csv is for people and spreadsheets: six significant digits
// (0.47, not 0.46999999999999997); history.json keeps the exact values.
TEST(History, CsvHasSixSignificantDigits) {
  std::istringstream csv(catdog::history_csv(sample_history()));
  std::string header, row1, row2, extra;
  std::getline(csv, header);
  std::getline(csv, row1);
  std::getline(csv, row2);
  EXPECT_EQ(header, "epoch,loss,accuracy,val_loss,val_accuracy,seconds");
  EXPECT_EQ(row1, "1,0.693147,0.5,0.69,0.51,12.5");
  EXPECT_EQ(row2, "2,0.3,0.333333,0.25,0.875,11");
  EXPECT_FALSE(std::getline(csv, extra));
}

TEST(History, NonFiniteValuesSurviveJson) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const catdog::History history = {{1, nan, 0.5, inf, 0.5, 1.0}, {2, 0.3, 0.6, -inf, 0.7, 1.0}};
  const std::string text = catdog::history_to_json(history).dump();  // would throw or write null for NaN
  EXPECT_NE(text.find("\"NaN\""), std::string::npos) << text;
  const auto back = catdog::history_from_json(nlohmann::json::parse(text));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_TRUE(std::isnan(back[0].loss));
  EXPECT_EQ(back[0].val_loss, inf);
  EXPECT_EQ(back[1].val_loss, -inf);
  EXPECT_EQ(back[1].loss, 0.3);
}

TEST(History, NullFromOlderFilesReadsAsNaN) {
  const auto back = catdog::history_from_json(nlohmann::json::parse(
      R"([{"epoch": 1, "loss": null, "accuracy": 0.5, "val_loss": null, "val_accuracy": 0.5, "seconds": 2}])"));
  ASSERT_EQ(back.size(), 1u);
  EXPECT_TRUE(std::isnan(back[0].loss));
  const auto text_loss = nlohmann::json::parse(
      R"([{"epoch": 1, "loss": "x", "accuracy": 0.5, "val_loss": 1, "val_accuracy": 0.5, "seconds": 2}])");
  EXPECT_THROW(catdog::history_from_json(text_loss), catdog::Error);
}

TEST(History, BestEpochIsTheFirstHighestAndSkipsNaN) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(catdog::best_epoch({}), nullptr);
  const catdog::History history = {
      {1, 0, 0, 0, 0.5, 0}, {2, 0, 0, 0, nan, 0}, {3, 0, 0, 0, 0.8, 0}, {4, 0, 0, 0, 0.8, 0}};
  ASSERT_NE(catdog::best_epoch(history), nullptr);
  EXPECT_EQ(catdog::best_epoch(history)->epoch, 3);
  EXPECT_EQ(catdog::best_epoch({{1, 0, 0, 0, nan, 0}}), nullptr);
}
