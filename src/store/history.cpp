#include "catdog/store/history.h"

#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

#include "catdog/base/error.h"

namespace catdog {

namespace {

nlohmann::json number_json(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  return value;
}

double number_from_json(const nlohmann::json& value, const char* key) {
  if (value.is_number()) return value.get<double>();
  if (value.is_null() || value == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (value == "Infinity") return std::numeric_limits<double>::infinity();
  if (value == "-Infinity") return -std::numeric_limits<double>::infinity();
  throw Error(std::string("training history: '") + key + "' is " + value.dump() +
              ", not a number: pass a history written by catdog");
}

}  // namespace

nlohmann::json history_to_json(const History& history) {
  auto rows = nlohmann::json::array();
  for (const auto& record : history)
    rows.push_back({{"epoch", record.epoch},
                    {"loss", number_json(record.loss)},
                    {"accuracy", number_json(record.accuracy)},
                    {"val_loss", number_json(record.val_loss)},
                    {"val_accuracy", number_json(record.val_accuracy)},
                    {"seconds", number_json(record.seconds)}});
  return rows;
}

History history_from_json(const nlohmann::json& json) {
  if (!json.is_array()) throw Error("training history is not a JSON array: pass a history written by catdog");
  History history;
  try {
    for (const auto& row : json) {
      EpochRecord record;
      record.epoch = row.at("epoch").get<int>();
      record.loss = number_from_json(row.at("loss"), "loss");
      record.accuracy = number_from_json(row.at("accuracy"), "accuracy");
      record.val_loss = number_from_json(row.at("val_loss"), "val_loss");
      record.val_accuracy = number_from_json(row.at("val_accuracy"), "val_accuracy");
      record.seconds = number_from_json(row.at("seconds"), "seconds");
      history.push_back(record);
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("training history is malformed (") + e.what() + "): pass a history written by catdog");
  }
  return history;
}

std::string history_csv(const History& history) {
  std::ostringstream out;
  out << std::setprecision(6);  // %.6g: for people; history.json keeps every digit
  out << "epoch,loss,accuracy,val_loss,val_accuracy,seconds\n";
  for (const auto& record : history)
    out << record.epoch << ',' << record.loss << ',' << record.accuracy << ',' << record.val_loss << ','
        << record.val_accuracy << ',' << record.seconds << '\n';
  return out.str();
}

const EpochRecord* best_epoch(const History& history) {
  const EpochRecord* best = nullptr;
  for (const auto& record : history)
    if (!std::isnan(record.val_accuracy) && (!best || record.val_accuracy > best->val_accuracy)) best = &record;
  return best;
}

}  // namespace catdog
