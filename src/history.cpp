#include "catdog/history.h"

#include <fstream>
#include <iomanip>
#include <limits>

#include "catdog/error.h"

namespace catdog {

nlohmann::json history_to_json(const History& history) {
  auto rows = nlohmann::json::array();
  for (const auto& record : history)
    rows.push_back({{"epoch", record.epoch},
                    {"loss", record.loss},
                    {"accuracy", record.accuracy},
                    {"val_loss", record.val_loss},
                    {"val_accuracy", record.val_accuracy},
                    {"seconds", record.seconds}});
  return rows;
}

History history_from_json(const nlohmann::json& json) {
  if (!json.is_array()) throw Error("training history is not a JSON array: pass a history written by catdog");
  History history;
  try {
    for (const auto& row : json) {
      EpochRecord record;
      record.epoch = row.at("epoch").get<int>();
      record.loss = row.at("loss").get<double>();
      record.accuracy = row.at("accuracy").get<double>();
      record.val_loss = row.at("val_loss").get<double>();
      record.val_accuracy = row.at("val_accuracy").get<double>();
      record.seconds = row.at("seconds").get<double>();
      history.push_back(record);
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("training history is malformed (") + e.what() + "): pass a history written by catdog");
  }
  return history;
}

namespace {

// Writes through FILE.tmp so a reader never sees half a file.
template <typename Writer>
void write_file_atomically(const std::filesystem::path& file, Writer&& write) {
  const auto temporary = std::filesystem::path(file.string() + ".tmp");
  {
    std::ofstream out(temporary);
    if (!out) throw Error("cannot write " + temporary.string() + ": check that the run folder is writable");
    write(out);
    out.flush();
    if (!out) throw Error("writing " + temporary.string() + " failed: check the free disk space");
  }
  std::filesystem::rename(temporary, file);
}

}  // namespace

void write_history_files(const History& history, const std::filesystem::path& run_dir) {
  write_file_atomically(run_dir / "history.json", [&](std::ostream& out) { out << history_to_json(history).dump(2) << "\n"; });
  write_file_atomically(run_dir / "history.csv", [&](std::ostream& out) {
    // max_digits10: the CSV reads back to the very same doubles.
    out << std::setprecision(std::numeric_limits<double>::max_digits10);
    out << "epoch,loss,accuracy,val_loss,val_accuracy,seconds\n";
    for (const auto& record : history)
      out << record.epoch << ',' << record.loss << ',' << record.accuracy << ',' << record.val_loss << ','
          << record.val_accuracy << ',' << record.seconds << '\n';
  });
}

}  // namespace catdog
