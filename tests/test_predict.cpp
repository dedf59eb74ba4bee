#include <regex>

#include <gtest/gtest.h>

#include "catdog/predict.h"

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

TEST(Verdict, OutOfRangeProbabilitiesAreClamped) {
  EXPECT_EQ(verdict_sentence(1.2), "This image seems 100% dog, and 0% cat.");
  EXPECT_EQ(verdict_sentence(-0.1), "This image seems 0% dog, and 100% cat.");
}

}  // namespace
}  // namespace catdog
