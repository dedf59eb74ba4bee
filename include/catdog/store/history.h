#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace catdog {

struct EpochRecord {
  int epoch = 0;  // 1-based
  double loss = 0, accuracy = 0, val_loss = 0, val_accuracy = 0, seconds = 0;
};
using History = std::vector<EpochRecord>;

// One object per epoch. JSON has no NaN or infinity: such values are
// written as the strings "NaN", "Infinity" and "-Infinity" (as Python's json
// module spells them), so a diverged run stays readable.
nlohmann::json history_to_json(const History& history);
// Reads what history_to_json writes; also null (older files wrote NaN as
// null) as NaN. Error for anything else malformed.
History history_from_json(const nlohmann::json& json);
// The same rows as CSV text with a header line; doubles with max_digits10,
// so they read back to the very same values.
std::string history_csv(const History& history);

// The epoch with the highest val_accuracy (the earlier on ties; NaN never
// wins), or nullptr for an empty history.
const EpochRecord* best_epoch(const History& history);

}  // namespace catdog
