// `catdog train`: the run folder around the library's training loop.
#include <optional>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "catdog/app/commands.h"
#include "catdog/app/run_folder.h"
#include "catdog/checkpoint.h"
#include "catdog/dataset.h"
#include "catdog/error.h"
#include "catdog/json_text.h"
#include "catdog/trainer.h"

namespace catdog::app {

namespace fs = std::filesystem;

namespace {

const char* cache_mode_name(CacheMode mode) {
  switch (mode) {
    case CacheMode::Memory: return "memory";
    case CacheMode::Disk: return "disk";
    case CacheMode::Off: return "off";
    case CacheMode::Auto: break;
  }
  return "auto";
}

RunFolder open_run_folder(const TrainCommand& command) {
  if (command.out.empty()) {
    if (command.resume) throw Error("--resume needs --out RUN_FOLDER: the run to continue");
    return RunFolder::create_default(kRunsDir, command.model);
  }
  return RunFolder::open(command.out, command.resume     ? OpenMode::Resume
                                      : command.exist_ok ? OpenMode::ExistOk
                                                         : OpenMode::New);
}

// The Keras weight file of a model with a backbone: --weights, else data/weights/<Keras' name>.
fs::path backbone_weights_file(const TrainCommand& command, const ModelSpec& spec) {
  const fs::path file =
      !command.weights.empty() ? fs::path(command.weights) : fs::path("data") / "weights" / spec.keras_weights_file;
  if (!fs::is_regular_file(file))
    throw Error("backbone weights " + file.string() + " not found: run `scripts/download_weights.sh " + spec.name +
                "` or pass --weights FILE");
  return file;
}

// --resume: the run's own model, seeds, batch size and learning rate win over the flags.
void adopt_run_settings(const CheckpointMeta& meta, TrainOptions& options, Runtime& runtime) {
  const auto& settings = meta.settings;
  const TrainOptions asked = options;
  const uint64_t asked_seed = runtime.seed;
  options.model = meta.kind;
  runtime.seed = meta.seed;
  options.split_seed = meta.split_seed;
  options.batch_size = settings.value("batch_size", options.batch_size);
  options.learning_rate = settings.value("learning_rate", options.learning_rate);
  if (options.model != asked.model || runtime.seed != asked_seed || options.split_seed != asked.split_seed ||
      options.batch_size != asked.batch_size || options.learning_rate != asked.learning_rate)
    spdlog::info("resume: keeping the run's model {}, seed {}, split seed {}, batch size {}, lr {}",
                 model_name(options.model), runtime.seed, options.split_seed, options.batch_size,
                 options.learning_rate);
}

nlohmann::json settings_json(const TrainCommand& command, const TrainOptions& options, const Runtime& runtime,
                             const RunFolder& folder, const DatasetIndex& data) {
  return {{"model", model_name(options.model)},
          {"data_dir", json_text(data.root.string())},
          {"dataset_fingerprint", samples_fingerprint(data.samples)},
          {"dataset_images", data.samples.size()},
          {"epochs", options.epochs},
          {"batch_size", options.batch_size},
          {"learning_rate", options.learning_rate},
          {"weights", json_text(options.weights.string())},
          {"out_dir", json_text(folder.path().string())},
          {"resume", command.resume},
          {"seed", runtime.seed},
          {"split_seed", options.split_seed},
          {"cache", cache_mode_name(options.cache)},
          {"initial_eval_batches", options.initial_eval_batches},
          {"feature_cache", options.feature_cache},
          {"command_line", json_text(command.command_line)},
          {"catdog_version", CATDOG_VERSION},
          {"threads", runtime.threads},
          {"precision", to_string(runtime.precision)},
          {"device", runtime.device.str()}};
}

nlohmann::json epoch_json(const EpochRecord& record) {
  return history_to_json({record})[0];
}

void report_result(const History& history, const RunFolder& folder, bool json, std::ostream& out) {
  const EpochRecord* best = best_epoch(history);
  if (json) {
    nlohmann::json result = {{"run_folder", json_text(folder.path().string())},
                             {"epochs", history.size()},
                             {"final", history.empty() ? nlohmann::json() : epoch_json(history.back())}};
    result["best_epoch"] = best ? nlohmann::json(best->epoch) : nlohmann::json();
    result["best_val_accuracy"] = best ? epoch_json(*best)["val_accuracy"] : nlohmann::json();
    out << result.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  out << "run folder: " << folder.path().string() << "\n";
  if (best)
    out << "best epoch: " << best->epoch << " of " << history.size() << ", val_accuracy "
        << fmt::format("{:.4f}", best->val_accuracy) << " (" << (folder.path() / kBestCheckpoint).string() << ")\n";
}

}  // namespace

int run_train(const TrainCommand& command, const Runtime& given_runtime, std::ostream& out) {
  const fs::path data_dir = dataset_folder(command.data);
  RunFolder folder = open_run_folder(command);
  try {
    Runtime runtime = given_runtime;
    TrainOptions options;
    options.model = parse_model_kind(command.model);
    options.batch_size = command.batch_size;
    options.learning_rate = command.learning_rate;
    options.split_seed = command.split_seed;
    options.cache = command.cache;
    options.initial_eval_batches = command.initial_eval_batches;
    options.feature_cache = command.feature_cache;
    options.progress = command.progress;

    std::optional<TrainState> resume;
    if (command.resume) {
      Checkpoint last = load_checkpoint(folder.file(kLastCheckpoint), runtime.device);
      folder.repair(last);
      adopt_run_settings(last.meta, options, runtime);
      resume = TrainState{last.model, last.optimizer_state, last.meta.history};
    }
    const ModelSpec& spec = model_spec(options.model);
    options.epochs = command.epochs.value_or(spec.default_epochs);
    if (spec.make_backbone && !resume) options.weights = backbone_weights_file(command, spec);
    options.image_cache_dir = folder.file(kImageCacheDir);
    options.train_features_file = folder.file(kFeaturesDir) / "train.pt";
    options.validation_features_file = folder.file(kFeaturesDir) / "validation.pt";

    const DatasetIndex data = scan_dataset(data_dir, /*decode_all=*/false, runtime.threads);
    const auto settings = settings_json(command, options, runtime, folder, data);
    folder.write_settings(settings);

    CheckpointMeta meta;
    meta.kind = options.model;
    meta.image_size = spec.input_size;
    meta.preprocessing = spec.preprocessing;
    meta.split_seed = options.split_seed;
    meta.seed = runtime.seed;
    meta.settings = settings;
    const TrainResult result =
        train(data, options, runtime,
              [&](const EpochEnd& end) {
                meta.epochs_done = end.history.back().epoch;
                meta.history = end.history;
                folder.commit_epoch(end.model, end.optimizer_state, meta, end.is_best);
              },
              resume ? &*resume : nullptr);
    report_result(result.history, folder, command.json, out);
  } catch (...) {
    folder.discard_if_unused();
    throw;
  }
  return kExitOk;
}

}  // namespace catdog::app
