#include "catdog/app/output.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "catdog/base/error.h"
#include "catdog/base/text.h"
#include "catdog/data/dataset.h"
#include "catdog/data/split.h"

namespace catdog::app {

namespace {

constexpr const char* kPartNames[] = {"train", "validation", "test"};

std::vector<int64_t> per_class(const std::vector<Sample>& samples, size_t classes) {
  std::vector<int64_t> counts(classes, 0);
  for (const auto& sample : samples) ++counts[static_cast<size_t>(sample.label)];
  return counts;
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
  for (const auto& file : report.undecodable) ++by_reason[file.reason];
  for (const auto& [reason, count] : by_reason) out << "  " << to_string(reason) << ": " << count << "\n";
  if (!report.undecodable.empty())
    out << "  (files that fail to decode keep their place in the split; training skips them)\n";

  const auto& names = index.class_names;
  const auto column = [](const std::string& name) { return static_cast<int>(std::max<size_t>(8, name.size() + 2)); };
  out << "split (seed " << report.split_seed << (split_kind(names) == SplitKind::Stratified ? ", stratified" : "")
      << ")\n" << std::left << std::setw(12) << "" << std::right;
  for (const auto& name : names) out << std::setw(column(name)) << name;
  out << std::setw(8) << "total" << "\n";
  for (const char* part_name : kPartNames) {
    const auto& part = split_part(report.split, part_name);
    const auto counts = per_class(part, names.size());
    out << std::left << std::setw(12) << part_name << std::right;
    for (size_t label = 0; label < names.size(); ++label) out << std::setw(column(names[label])) << counts[label];
    out << std::setw(8) << part.size() << "\n";
  }
  return out.str();
}

nlohmann::json dataset_report_to_json(const DatasetReport& report) {
  const auto& index = report.index;
  nlohmann::json skipped = nlohmann::json::object();
  auto by_reason = index.skipped_by_reason();
  for (const auto& file : report.undecodable) ++by_reason[file.reason];
  for (const auto& [reason, count] : by_reason) skipped[to_string(reason)] = count;
  nlohmann::json split = nlohmann::json::object();
  for (const char* name : kPartNames) {
    const auto& part = split_part(report.split, name);
    const auto counts = per_class(part, index.class_names.size());
    nlohmann::json row = nlohmann::json::object();
    for (size_t label = 0; label < counts.size(); ++label) row[index.class_names[label]] = counts[label];
    row["total"] = part.size();
    split[name] = row;
  }
  return {{"dataset", escape_text(index.root.string())},
          {"petimages_layout", index.petimages_layout},
          {"class_names", index.class_names},
          {"stratified", split_kind(index.class_names) == SplitKind::Stratified},
          {"images_found", index.samples.size() + index.skipped.size()},
          {"usable", index.samples.size() - report.undecodable.size()},
          {"skipped", skipped},
          {"split_seed", report.split_seed},
          {"split", split},
          {"fingerprint", dataset_fingerprint(index)}};
}

std::string format_eval_report(const EvalReport& report) {
  std::ostringstream text;
  const auto& matrix = report.confusion;
  int64_t correct = 0;
  for (int i = 0; i < matrix.num_classes(); ++i) correct += matrix.count(i, i);
  text << "checkpoint: " << escape_text(report.checkpoint) << "\n"
       << "split:      " << report.split << " (" << report.images << " images"
       << (report.skipped ? ", " + std::to_string(report.skipped) + " unreadable skipped" : "")
       << (report.damaged.empty() ? "" : ", " + std::to_string(report.damaged.size()) + " damaged (decoded in part)")
       << ")\n"
       << (report.tta ? "tta:        horizontal flip (mean of both softmaxes)\n" : "")
       << "loss:       " << fixed(report.loss, 4) << "\n"
       << "accuracy:   " << fixed(matrix.accuracy(), 4) << " (" << correct << "/" << report.images << ")\n"
       << (matrix.num_classes() > 5 ? "top-5:      " + fixed(report.top5_accuracy(), 4) + " (" +
                                          std::to_string(report.top5_correct) + "/" + std::to_string(report.images) +
                                          ")\n"
                                    : "")
       << "\n";

  size_t name_width = matrix.num_classes() > 2 ? 12 : 5;  // "weighted avg" only below more than two
  for (int i = 0; i < matrix.num_classes(); ++i) name_width = std::max(name_width, report.class_name(i).size());
  const auto pad = [](const std::string& s, size_t width) {
    return std::string(width > s.size() ? width - s.size() : 0, ' ') + s;
  };
  text << pad("class", name_width) << pad("precision", 11) << pad("recall", 9) << pad("f1", 9) << pad("support", 9)
       << "\n";
  const auto metrics_row = [&](const std::string& name, const ClassMetrics& m) {
    text << pad(name, name_width) << pad(fixed(m.precision, 4), 11) << pad(fixed(m.recall, 4), 9)
         << pad(fixed(m.f1, 4), 9) << pad(std::to_string(m.support), 9) << "\n";
  };
  for (int i = 0; i < matrix.num_classes(); ++i) metrics_row(report.class_name(i), matrix.class_metrics(i));
  // Two classes keep the table they always had; more get sklearn's averages.
  if (matrix.num_classes() > 2) {
    metrics_row("macro avg", matrix.macro_average());
    metrics_row("weighted avg", matrix.weighted_average());
  }

  size_t cell_width = 9;
  for (int p = 0; p < matrix.num_classes(); ++p) cell_width = std::max(cell_width, report.class_name(p).size() + 1);
  text << "\nconfusion matrix (rows: true, columns: predicted)\n" << pad("", name_width);
  for (int p = 0; p < matrix.num_classes(); ++p) text << pad(report.class_name(p), cell_width);
  text << "\n";
  for (int t = 0; t < matrix.num_classes(); ++t) {
    text << pad(report.class_name(t), name_width);
    for (int p = 0; p < matrix.num_classes(); ++p) text << pad(std::to_string(matrix.count(t, p)), cell_width);
    text << "\n";
  }
  text << "\nspeed:      " << fixed(report.images_per_second, 0) << " images/s\n";
  return text.str();
}

nlohmann::json eval_report_to_json(const EvalReport& report) {
  const auto& matrix = report.confusion;
  nlohmann::json classes = nlohmann::json::object(), confusion = nlohmann::json::array(),
                 mistakes = nlohmann::json::array();
  const auto metrics_json = [](const ClassMetrics& m) {
    return nlohmann::json{{"precision", m.precision}, {"recall", m.recall}, {"f1", m.f1}, {"support", m.support}};
  };
  for (int t = 0; t < matrix.num_classes(); ++t) {
    const ClassMetrics m = matrix.class_metrics(t);
    classes[report.class_name(t)] = metrics_json(m);
    nlohmann::json row = nlohmann::json::array();
    for (int p = 0; p < matrix.num_classes(); ++p) row.push_back(matrix.count(t, p));
    confusion.push_back(row);
  }
  nlohmann::json damaged = nlohmann::json::array();
  for (const auto& file : report.damaged) damaged.push_back(escape_text(file));
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
          {"damaged", damaged},
          {"loss", report.loss},
          {"accuracy", matrix.accuracy()},
          {"class_names", report.class_names},
          {"classes", classes},
          {"confusion", confusion},
          {"macro_avg", metrics_json(matrix.macro_average())},
          {"weighted_avg", metrics_json(matrix.weighted_average())},
          {"top5_accuracy", matrix.num_classes() > 5 ? nlohmann::json(report.top5_accuracy()) : nlohmann::json(nullptr)},
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

std::string damage_sentence(const std::string& decoder_words) {
  return "the image is damaged (" + decoder_words + "): only part of it decoded, and the verdict is on that part";
}

nlohmann::json prediction_json(const PredictionResult& result, const std::vector<std::string>& class_names) {
  nlohmann::json line = {{"file", escape_text(result.input.file.string())}};
  if (escape_text(result.input.file.string()) != result.input.file.string()) line["file_escaped"] = true;
  if (!result.error.empty()) {
    line["error"] = escape_text(result.error);
    return line;
  }
  // cat/dog checkpoints keep their top-level "cat" and "dog" fields; every class is in "probabilities".
  const auto& p = result.probabilities;
  const auto label = std::max_element(p.begin(), p.end()) - p.begin();
  nlohmann::json probabilities = nlohmann::json::object();
  for (size_t i = 0; i < p.size(); ++i) probabilities[class_name(class_names, static_cast<int64_t>(i))] = p[i];
  if (is_cats_vs_dogs(class_names)) {
    line["cat"] = p[kCatLabel];
    line["dog"] = p[kDogLabel];
  }
  line["label"] = class_name(class_names, label);
  line["probabilities"] = probabilities;
  if (!result.warning.empty()) line["warning"] = escape_text(damage_sentence(result.warning));
  if (result.face) {
    line["face"] = {{"found", result.face->found}};
    if (result.face->found) {
      const auto& box = result.face->box;
      line["face"]["box"] = {box.x, box.y, box.width, box.height};
    }
  }
  return line;
}

void require_output_folder(const std::filesystem::path& dir, const std::string& flag) {
  const std::filesystem::path folder = dir.empty() ? "." : dir;
  const auto refuse = [&](const std::string& why) {
    return Error(flag + " " + escape_text(folder.string()) + ": " + why + "; choose a folder you can write to");
  };
  std::error_code error;
  std::filesystem::create_directories(folder, error);
  if (error) throw refuse("cannot create it (" + error.message() + ")");
  std::string probe = (folder / ".catdog-write-check-XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0) throw refuse(std::string("cannot write into it (") + std::strerror(errno) + ")");
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace catdog::app
