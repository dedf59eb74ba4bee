// What the subcommands print, in one place: the text tables and JSON of
// `summary`, `data`, `eval` and `predict` (serve's answers start from predict's).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/data/dataset_report.h"
#include "catdog/infer/classify.h"
#include "catdog/infer/evaluate.h"
#include "catdog/models/classifier.h"

namespace catdog::app {

// Keras-style table: layer, output shape, parameters; then total / trainable / frozen.
std::string format_summary(Classifier& model);

// `catdog data`: files found and skipped (by reason), the split per class.
std::string format_dataset_report(const DatasetReport& report);
nlohmann::json dataset_report_to_json(const DatasetReport& report);

// `catdog eval`: loss, accuracy, per-class precision/recall/F1, confusion matrix.
std::string format_eval_report(const EvalReport& report);
nlohmann::json eval_report_to_json(const EvalReport& report);
// Every mistake, largest loss first: file,true,predicted,confidence.
std::string mistakes_csv(const EvalReport& report);

// A folder an output flag names (`flag`: "--annotate", ...), created when
// missing and checked writable before any work: a read-only folder is one
// Error at the start, not a failure after the first image or the whole test split.
void require_output_folder(const std::filesystem::path& dir, const std::string& flag);

// What a result's warning (a damaged image, classify.h) means, in one sentence.
std::string damage_sentence(const std::string& decoder_words);

// predict --json's line for one result (serve's answers start from it too);
// "warning" holds damage_sentence for a damaged image.
nlohmann::json prediction_json(const PredictionResult& result, const std::vector<std::string>& class_names);

}  // namespace catdog::app
