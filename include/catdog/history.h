#pragma once
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

namespace catdog {

struct EpochRecord {
  int epoch = 0;  // 1-based
  double loss = 0, accuracy = 0, val_loss = 0, val_accuracy = 0, seconds = 0;
};
using History = std::vector<EpochRecord>;

nlohmann::json history_to_json(const History& history);
History history_from_json(const nlohmann::json& json);
// history.csv and history.json: one row / object per epoch.
void write_history_files(const History& history, const std::filesystem::path& run_dir);

}  // namespace catdog
