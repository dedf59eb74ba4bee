#include "catdog/app/output.h"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <sstream>

#include "catdog/base/text.h"
#include "catdog/data/dataset.h"

namespace catdog::app {

namespace {

constexpr const char* kPartNames[] = {"train", "validation", "test"};

int64_t count_dogs(const std::vector<Sample>& samples) {
  return std::count_if(samples.begin(), samples.end(), [](const Sample& s) { return s.label == kDogLabel; });
}

std::string with_thousands_separators(int64_t value) {
  std::string digits = std::to_string(value);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<size_t>(i), ",");
  return digits;
}

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// A CSV field, quoted when it holds a separator, a quote or a line break.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace

std::string format_summary(Classifier& model) {
  const auto rows = model->summary();
  int64_t total = 0, trainable = 0;
  size_t name_width = 28;
  for (const auto& row : rows) {
    total += row.parameters;
    trainable += row.trainable_parameters;
    name_width = std::max(name_width, row.name.size() + 2);
  }
  const std::string rule(name_width + 38, '_'), double_rule(name_width + 38, '=');
  std::ostringstream text;
  const auto line = [&](const std::string& name, const std::string& shape, const std::string& parameters) {
    text << ' ' << std::left << std::setw(static_cast<int>(name_width)) << name << std::setw(26) << shape
         << parameters << "\n";
  };
  text << "Model: \"" << model_name(model->kind()) << "\"\n" << rule << "\n";
  line("Layer (type)", "Output Shape", "Param #");
  text << double_rule << "\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    line(rows[i].name, rows[i].output_shape, std::to_string(rows[i].parameters));
    text << (i + 1 < rows.size() ? "\n" : "");
  }
  text << double_rule << "\n"
       << "Total params: " << with_thousands_separators(total) << "\n"
       << "Trainable params: " << with_thousands_separators(trainable) << "\n"
       << "Non-trainable params: " << with_thousands_separators(total - trainable) << "\n"
       << rule << "\n";
  return text.str();
}

std::string format_dataset_report(const DatasetReport& report) {
  const auto& index = report.index;
  std::ostringstream out;
  out << "dataset: " << escape_text(index.root.string())
      << (index.petimages_layout ? " (PetImages layout: files without JFIF marker skipped, as TFDS does)" : "") << "\n"
      << "images found: " << index.samples.size() + index.skipped.size() << "\n"
      << "usable: " << index.samples.size() - report.undecodable.size() << "\n"
      << "skipped: " << index.skipped.size() + report.undecodable.size() << "\n";
  auto by_reason = index.skipped_by_reason();
  if (!report.undecodable.empty()) by_reason[SkipReason::Undecodable] += static_cast<int>(report.undecodable.size());
  for (const auto& [reason, count] : by_reason) out << "  " << to_string(reason) << ": " << count << "\n";
  if (!report.undecodable.empty())
    out << "  (undecodable files keep their place in the split; training skips them)\n";

  out << "split (seed " << report.split_seed << ")\n"
      << std::left << std::setw(12) << "" << std::right << std::setw(8) << "cat" << std::setw(8) << "dog"
      << std::setw(8) << "total" << "\n";
  for (const char* name : kPartNames) {
    const auto& part = split_part(report.split, name);
    const auto dogs = count_dogs(part);
    out << std::left << std::setw(12) << name << std::right << std::setw(8) << static_cast<int64_t>(part.size()) - dogs
        << std::setw(8) << dogs << std::setw(8) << part.size() << "\n";
  }
  return out.str();
}

nlohmann::json dataset_report_to_json(const DatasetReport& report) {
  const auto& index = report.index;
  nlohmann::json skipped = nlohmann::json::object();
  for (const auto& [reason, count] : index.skipped_by_reason()) skipped[to_string(reason)] = count;
  if (!report.undecodable.empty())
    skipped[to_string(SkipReason::Undecodable)] = static_cast<int>(report.undecodable.size());
  nlohmann::json split = nlohmann::json::object();
  for (const char* name : kPartNames) {
    const auto& part = split_part(report.split, name);
    const auto dogs = count_dogs(part);
    split[name] = {{"cat", static_cast<int64_t>(part.size()) - dogs}, {"dog", dogs}, {"total", part.size()}};
  }
  return {{"dataset", escape_text(index.root.string())},
          {"petimages_layout", index.petimages_layout},
          {"images_found", index.samples.size() + index.skipped.size()},
          {"usable", index.samples.size() - report.undecodable.size()},
          {"skipped", skipped},
          {"split_seed", report.split_seed},
          {"split", split},
          {"fingerprint", samples_fingerprint(index.samples)}};
}

std::string format_eval_report(const EvalReport& report) {
  std::ostringstream text;
  const auto& matrix = report.confusion;
  int64_t correct = 0;
  for (int i = 0; i < matrix.num_classes(); ++i) correct += matrix.count(i, i);
  text << "checkpoint: " << escape_text(report.checkpoint) << "\n"
       << "split:      " << report.split << " (" << report.images << " images"
       << (report.skipped ? ", " + std::to_string(report.skipped) + " unreadable skipped" : "") << ")\n"
       << (report.tta ? "tta:        horizontal flip (mean of both softmaxes)\n" : "")
       << "loss:       " << fixed(report.loss, 4) << "\n"
       << "accuracy:   " << fixed(matrix.accuracy(), 4) << " (" << correct << "/" << report.images << ")\n\n";

  size_t name_width = 5;
  for (int i = 0; i < matrix.num_classes(); ++i) name_width = std::max(name_width, report.class_name(i).size());
  const auto pad = [](const std::string& s, size_t width) {
    return std::string(width > s.size() ? width - s.size() : 0, ' ') + s;
  };
  text << pad("class", name_width) << pad("precision", 11) << pad("recall", 9) << pad("f1", 9) << pad("support", 9)
       << "\n";
  for (int i = 0; i < matrix.num_classes(); ++i) {
    const ClassMetrics m = matrix.class_metrics(i);
    text << pad(report.class_name(i), name_width) << pad(fixed(m.precision, 4), 11) << pad(fixed(m.recall, 4), 9)
         << pad(fixed(m.f1, 4), 9) << pad(std::to_string(m.support), 9) << "\n";
  }

  text << "\nconfusion matrix (rows: true, columns: predicted)\n" << pad("", name_width);
  for (int p = 0; p < matrix.num_classes(); ++p) text << pad(report.class_name(p), 9);
  text << "\n";
  for (int t = 0; t < matrix.num_classes(); ++t) {
    text << pad(report.class_name(t), name_width);
    for (int p = 0; p < matrix.num_classes(); ++p) text << pad(std::to_string(matrix.count(t, p)), 9);
    text << "\n";
  }
  text << "\nspeed:      " << fixed(report.images_per_second, 0) << " images/s\n";
  return text.str();
}

nlohmann::json eval_report_to_json(const EvalReport& report) {
  const auto& matrix = report.confusion;
  nlohmann::json classes = nlohmann::json::object(), confusion = nlohmann::json::array(),
                 mistakes = nlohmann::json::array();
  for (int t = 0; t < matrix.num_classes(); ++t) {
    const ClassMetrics m = matrix.class_metrics(t);
    classes[report.class_name(t)] = {
        {"precision", m.precision}, {"recall", m.recall}, {"f1", m.f1}, {"support", m.support}};
    nlohmann::json row = nlohmann::json::array();
    for (int p = 0; p < matrix.num_classes(); ++p) row.push_back(matrix.count(t, p));
    confusion.push_back(row);
  }
  for (const auto& mistake : report.mistakes)
    mistakes.push_back({{"file", escape_text(mistake.file)},
                        {"true", report.class_name(mistake.truth)},
                        {"predicted", report.class_name(mistake.predicted)},
                        {"confidence", mistake.confidence}});
  return {{"checkpoint", escape_text(report.checkpoint)},
          {"split", report.split},
          {"tta", report.tta},
          {"images", report.images},
          {"skipped", report.skipped},
          {"loss", report.loss},
          {"accuracy", matrix.accuracy()},
          {"class_names", report.class_names},
          {"classes", classes},
          {"confusion", confusion},
          {"images_per_second", report.images_per_second},
          {"mistakes", mistakes}};
}

std::string mistakes_csv(const EvalReport& report) {
  std::ostringstream csv;
  csv << "file,true,predicted,confidence\n";
  csv.precision(6);
  for (const auto& mistake : report.mistakes)
    csv << csv_field(mistake.file) << ',' << csv_field(report.class_name(mistake.truth)) << ','
        << csv_field(report.class_name(mistake.predicted)) << ',' << mistake.confidence << '\n';
  return csv.str();
}

nlohmann::json prediction_json(const PredictionResult& result, const std::vector<std::string>& class_names) {
  nlohmann::json line = {{"file", escape_text(result.input.file.string())}};
  if (escape_text(result.input.file.string()) != result.input.file.string()) line["file_escaped"] = true;
  if (!result.error.empty()) {
    line["error"] = escape_text(result.error);
    return line;
  }
  const size_t label = result.dog > result.cat ? kDogLabel : kCatLabel;
  line["cat"] = result.cat;
  line["dog"] = result.dog;
  line["label"] = class_name(class_names, static_cast<int64_t>(label));
  if (result.face) {
    line["face"] = {{"found", result.face->found}};
    if (result.face->found) {
      const auto& box = result.face->box;
      line["face"]["box"] = {box.x, box.y, box.width, box.height};
    }
  }
  return line;
}

}  // namespace catdog::app
