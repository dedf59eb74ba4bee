// `catdog train`: the run folder around the library's training loop.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "catdog/app/commands.h"
#include "catdog/app/environment.h"
#include "catdog/app/launch.h"
#include "catdog/app/output.h"
#include "catdog/app/run_folder.h"
#include "catdog/app/weights.h"
#include "catdog/base/error.h"
#include "catdog/base/text.h"
#include "catdog/data/dataset.h"
#include "catdog/data/preprocess.h"
#include "catdog/infer/evaluate.h"
#include "catdog/store/checkpoint.h"
#include "catdog/train/data_parallel.h"
#include "catdog/train/trainer.h"

namespace catdog::app {

namespace fs = std::filesystem;

namespace {

RunFolder open_run_folder(const TrainCommand& command) {
  if (command.out.empty()) {
    if (command.resume) throw Error("--resume needs --out RUN_FOLDER: the run to continue");
    return RunFolder::create_default(kRunsDir, command.model);
  }
  return RunFolder::open(command.out, command.resume     ? OpenMode::Resume
                                      : command.exist_ok ? OpenMode::ExistOk
                                                         : OpenMode::New);
}

// A recipe flag and its key in settings.json: how --config adopts the recorded
// value and how --resume tells that a given flag asks for another.
struct RecipeFlag {
  const char* flag;
  const char* key;
  nlohmann::json (*asked)(const TrainCommand&, const Runtime&);
  void (*adopt)(const nlohmann::json&, TrainCommand&, Runtime&);
};

const RecipeFlag kRecipeFlags[] = {
    {"--model", "model", [](const TrainCommand& c, const Runtime&) { return nlohmann::json(c.model); },
     [](const nlohmann::json& v, TrainCommand& c, Runtime&) { c.model = v.get<std::string>(); }},
    {"--batch-size", "batch_size", [](const TrainCommand& c, const Runtime&) { return nlohmann::json(c.batch_size); },
     [](const nlohmann::json& v, TrainCommand& c, Runtime&) { c.batch_size = v.get<int>(); }},
    {"--lr", "learning_rate", [](const TrainCommand& c, const Runtime&) { return nlohmann::json(c.learning_rate); },
     [](const nlohmann::json& v, TrainCommand& c, Runtime&) { c.learning_rate = v.get<double>(); }},
    {"--seed", "seed", [](const TrainCommand&, const Runtime& r) { return nlohmann::json(r.seed); },
     [](const nlohmann::json& v, TrainCommand&, Runtime& r) { r.seed = v.get<uint64_t>(); }},
    {"--split-seed", "split_seed", [](const TrainCommand& c, const Runtime&) { return nlohmann::json(c.split_seed); },
     [](const nlohmann::json& v, TrainCommand& c, Runtime&) { c.split_seed = v.get<uint64_t>(); }},
    {"--unfreeze-from", "unfreeze_from",
     [](const TrainCommand& c, const Runtime&) { return nlohmann::json(c.unfreeze_from); },
     [](const nlohmann::json& v, TrainCommand& c, Runtime&) { c.unfreeze_from = v.get<std::string>(); }},
    {"--fine-tune-lr-factor", "fine_tune_lr_factor",
     [](const TrainCommand& c, const Runtime&) { return nlohmann::json(c.fine_tune_lr_factor); },
     [](const nlohmann::json& v, TrainCommand& c, Runtime&) { c.fine_tune_lr_factor = v.get<double>(); }},
    {"--schedule", "schedule",
     [](const TrainCommand& c, const Runtime&) { return nlohmann::json(to_string(c.schedule)); },
     [](const nlohmann::json& v, TrainCommand& c, Runtime&) { c.schedule = parse_schedule(v.get<std::string>()); }},
    {"--label-smoothing", "label_smoothing",
     [](const TrainCommand& c, const Runtime&) { return nlohmann::json(c.label_smoothing); },
     [](const nlohmann::json& v, TrainCommand& c, Runtime&) { c.label_smoothing = v.get<double>(); }},
    {"--augment", "augment",
     [](const TrainCommand& c, const Runtime&) { return c.augment ? nlohmann::json(*c.augment) : nlohmann::json(); },
     [](const nlohmann::json& v, TrainCommand& c, Runtime&) { c.augment = v.get<bool>(); }},
    {"--patience", "patience", [](const TrainCommand& c, const Runtime&) { return nlohmann::json(c.patience); },
     [](const nlohmann::json& v, TrainCommand& c, Runtime&) { c.patience = v.get<int>(); }},
    {"--precision", "precision",
     [](const TrainCommand&, const Runtime& r) { return nlohmann::json(to_string(r.precision)); },
     [](const nlohmann::json& v, TrainCommand&, Runtime& r) { r.precision = parse_precision(v.get<std::string>()); }},
    {"--classes", "classes", [](const TrainCommand& c, const Runtime&) { return nlohmann::json(c.classes); },
     [](const nlohmann::json& v, TrainCommand& c, Runtime&) { c.classes = v.get<std::vector<std::string>>(); }},
    {"--weights", "weights", [](const TrainCommand& c, const Runtime&) { return nlohmann::json(c.weights); },
     [](const nlohmann::json& v, TrainCommand& c, Runtime&) { c.weights = v.get<std::string>(); }},
    {"--image-size", "image_size",
     [](const TrainCommand& c, const Runtime&) {
       return c.image_size ? nlohmann::json(*c.image_size) : nlohmann::json();
     },
     [](const nlohmann::json& v, TrainCommand& c, Runtime&) {
       check_image_size(v.get<int>());
       c.image_size = v.get<int>();
     }},
    {"--cache", "cache", [](const TrainCommand& c, const Runtime&) { return nlohmann::json(to_string(c.cache)); },
     [](const nlohmann::json& v, TrainCommand& c, Runtime&) { c.cache = parse_cache_mode(v.get<std::string>()); }},
};

bool given(const TrainCommand& command, const std::string& flag) {
  return std::find(command.flags_given.begin(), command.flags_given.end(), flag) != command.flags_given.end();
}

// A recorded value as a flag's value: text unquoted, lists comma-separated.
std::string flag_value(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (!value.is_array()) return value.dump();
  std::string text;
  for (const auto& item : value) text += (text.empty() ? "" : ",") + flag_value(item);
  return text;
}

// --config: the recorded recipe, epochs and data folder wherever no flag was given.
void adopt_config(const nlohmann::json& settings, TrainCommand& command, Runtime& runtime) {
  for (const auto& recipe_flag : kRecipeFlags) {
    const auto value = settings.find(recipe_flag.key);
    if (value == settings.end() || value->is_null() || given(command, recipe_flag.flag)) continue;
    try {
      recipe_flag.adopt(*value, command, runtime);
    } catch (const std::exception& e) {
      throw Error("--config " + command.config.string() + ": \"" + recipe_flag.key + "\" is not a value of " +
                  recipe_flag.flag + " (" + first_line(e.what()) + ")");
    }
  }
  const bool fine_tunes = !settings.value("unfreeze_from", std::string()).empty();
  if (!given(command, "--fine-tune")) command.fine_tune = fine_tunes;
  const int epochs = settings.value("epochs", 0), head_epochs = settings.value("head_epochs", 0);
  if (!given(command, "--epochs") && epochs > 0) command.epochs = fine_tunes ? head_epochs : epochs;
  if (!given(command, "--fine-tune-epochs") && fine_tunes && epochs > head_epochs)
    command.fine_tune_epochs = epochs - head_epochs;
}

// --resume keeps the run's recipe: one warning naming each flag given that asks for another.
void warn_about_ignored_flags(const nlohmann::json& settings, const TrainCommand& command, const Runtime& runtime) {
  std::string kept;
  for (const auto& recipe_flag : kRecipeFlags) {
    const auto recorded = settings.find(recipe_flag.key);
    if (!given(command, recipe_flag.flag) || recorded == settings.end()) continue;
    const nlohmann::json asked = recipe_flag.asked(command, runtime);
    if (asked != *recorded)
      kept += std::string(kept.empty() ? "" : ", ") + recipe_flag.flag + " " + flag_value(*recorded) + " (not " +
              flag_value(asked) + ")";
  }
  if (given(command, "--fine-tune") && settings.value("unfreeze_from", std::string()).empty())
    kept += std::string(kept.empty() ? "" : ", ") + "no fine-tuning (not --fine-tune)";
  if (!kept.empty())
    spdlog::warn("--resume continues the run's own recipe: {}; start a new run (--config {}) to change it", kept,
                 (fs::path(command.out) / kSettingsFile).string());
}

// --resume: the run's own recipe (model, seeds, batch size, learning rates,
// stages, schedule, augmentation, precision) wins over the flags; its epochs
// too, unless the flags give them.
void adopt_run_settings(const CheckpointMeta& meta, const TrainCommand& command, TrainOptions& options,
                        Runtime& runtime) {
  const auto& settings = meta.settings;
  warn_about_ignored_flags(settings, command, runtime);
  if (command.image_size && *command.image_size != meta.image_size)
    throw Error("--resume continues the run at its " + std::to_string(meta.image_size) + " px input size, not " +
                std::to_string(*command.image_size) + ": drop --image-size, or start a new run");
  options.model = meta.kind;
  options.image_size = meta.image_size;
  runtime.seed = meta.seed;
  runtime.precision = parse_precision(settings.value("precision", std::string(to_string(runtime.precision))));
  options.split_seed = meta.split_seed;
  options.batch_size = settings.value("batch_size", options.batch_size);
  options.learning_rate = settings.value("learning_rate", options.learning_rate);
  options.fine_tune.unfreeze_from = settings.value("unfreeze_from", options.fine_tune.unfreeze_from);
  options.fine_tune.head_epochs = settings.value("head_epochs", options.fine_tune.head_epochs);
  options.fine_tune.learning_rate_factor = settings.value("fine_tune_lr_factor", options.fine_tune.learning_rate_factor);
  options.schedule = parse_schedule(settings.value("schedule", std::string(to_string(Schedule::Constant))));
  options.label_smoothing = settings.value("label_smoothing", options.label_smoothing);
  options.augment = settings.value("augment", options.augment);
  options.patience = settings.value("patience", options.patience);
  options.epochs = settings.value("epochs", options.epochs);
  const bool fine_tunes = !options.fine_tune.unfreeze_from.empty();
  if (command.epochs && !fine_tunes) options.epochs = *command.epochs;
  if (command.fine_tune_epochs && !fine_tunes)
    throw Error("--fine-tune-epochs: run " + command.out +
                " has no fine-tuning stage; give --epochs N for more epochs");
  if (command.fine_tune_epochs) options.epochs = options.fine_tune.head_epochs + *command.fine_tune_epochs;
}

nlohmann::json settings_json(const TrainCommand& command, const TrainOptions& options, const Runtime& runtime,
                             const fs::path& folder, const DatasetIndex& data, const std::vector<std::string>& classes,
                             int world_size) {
  return {{"model", model_name(options.model)},
          {"data_dir", escape_text(fs::absolute(data.root).lexically_normal().string())},
          {"dataset_fingerprint", dataset_fingerprint(data)},
          {"dataset_images", data.samples.size()},
          {"class_names", data.class_names},
          {"classes", classes},  // the subset asked for; empty: all
          {"epochs", options.epochs},
          {"batch_size", options.batch_size},  // per rank
          {"world_size", world_size},
          {"learning_rate", options.learning_rate},
          {"unfreeze_from", options.fine_tune.unfreeze_from},
          {"head_epochs", options.fine_tune.head_epochs},
          {"fine_tune_lr_factor", options.fine_tune.learning_rate_factor},
          {"schedule", to_string(options.schedule)},
          {"label_smoothing", options.label_smoothing},
          {"augment", options.augment},
          {"image_size", options.image_size},
          {"patience", options.patience},
          {"weights", escape_text(options.weights.string())},
          {"out_dir", escape_text(folder.string())},
          {"seed", runtime.seed},
          {"split_seed", options.split_seed},
          {"cache", to_string(options.cache)},
          {"initial_eval_batches", options.initial_eval_batches},
          {"feature_cache", options.feature_cache},
          {"command_line", escape_text(command.command_line)},
          {"catdog_version", CATDOG_VERSION},
          {"threads", runtime.threads},
          {"precision", to_string(runtime.precision)},
          {"device", runtime.device.str()}};
}

// A resumed run's settings: its first command line and weights stay, the
// resumes' command lines are added under "resumed_by".
void keep_original_command(const nlohmann::json& before, nlohmann::json& settings) {
  if (!before.is_object()) return;
  nlohmann::json resumes = before.value("resumed_by", nlohmann::json::array());
  resumes.push_back(settings["command_line"]);
  settings["resumed_by"] = resumes;
  for (const char* key : {"command_line", "weights"})
    if (before.contains(key)) settings[key] = before[key];
}

nlohmann::json epoch_json(const EpochRecord& record) {
  return history_to_json({record})[0];
}

// The best checkpoint on the test split, as `catdog eval` reports it; the
// result is kept in the run folder (kTestResultFile) for serve's page.
std::optional<EvalReport> test_best_checkpoint(const RunFolder& folder, const DatasetIndex& data, int batch_size,
                                               std::FILE* progress, const Runtime& runtime) {
  const fs::path best_file = folder.file(kBestCheckpoint);
  if (!fs::exists(best_file)) return std::nullopt;
  Checkpoint best = load_checkpoint(best_file, runtime.device);
  EvalOptions options;
  options.split = "test";
  options.batch_size = batch_size;
  options.progress = progress;
  options.progress_columns = terminal_columns(STDERR_FILENO);
  EvalReport report = evaluate(best, data, options, runtime);
  report.checkpoint = best_file.string();
  nlohmann::json result = eval_report_to_json(report);
  result["epoch"] = best.meta.epochs_done;
  folder.write_test_result(result);
  return report;
}

// `best_saved_epoch`: the epoch best.ckpt holds, the best one unless a
// resume found its weights lost (RunFolder::repair).
void report_result(const History& history, int best_saved_epoch, const RunFolder& folder,
                   const std::optional<EvalReport>& test, bool json, std::ostream& out) {
  const EpochRecord* best_scored = best_epoch(history);
  const EpochRecord* best = nullptr;
  for (const auto& record : history)
    if (record.epoch == best_saved_epoch) best = &record;
  if (json) {
    nlohmann::json result = {{"run_folder", escape_text(folder.path().string())},
                             {"epochs", history.size()},
                             {"final", history.empty() ? nlohmann::json() : epoch_json(history.back())}};
    result["best_epoch"] = best ? nlohmann::json(best->epoch) : nlohmann::json();
    result["best_val_accuracy"] = best ? epoch_json(*best)["val_accuracy"] : nlohmann::json();
    if (test) result["test"] = eval_report_to_json(*test);
    out << result.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  out << "run folder: " << escape_text(folder.path().string()) << "\n";
  if (best)
    out << "best epoch: " << best->epoch << " of " << history.size() << ", val_accuracy "
        << fmt::format("{:.4f}", best->val_accuracy) << " (" << (folder.path() / kBestCheckpoint).string() << ")"
        << (best != best_scored ? fmt::format("; epoch {} scored higher, but its weights were lost", best_scored->epoch)
                                : "")
        << "\n";
  if (test) out << "\n" << format_eval_report(*test);
}

// Ctrl+C and SIGTERM while training: a flag the trainer reads between steps
// (TrainOptions::stop). A handler can only reach a static; the handler is
// reset on the first signal, so a second one ends the process at once.
std::atomic<bool> stop_requested{false};

class InterruptHandlers {
 public:
  InterruptHandlers() {
    stop_requested = false;
    struct sigaction action {};
    action.sa_handler = [](int) { stop_requested = true; };
    action.sa_flags = SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_interrupt_);
    sigaction(SIGTERM, &action, &previous_terminate_);
  }
  ~InterruptHandlers() {
    sigaction(SIGINT, &previous_interrupt_, nullptr);
    sigaction(SIGTERM, &previous_terminate_, nullptr);
  }
  InterruptHandlers(const InterruptHandlers&) = delete;
  InterruptHandlers& operator=(const InterruptHandlers&) = delete;

 private:
  struct sigaction previous_interrupt_ {};
  struct sigaction previous_terminate_ {};
};

// A distributed launch (torchrun, Slurm, --nproc) in the environment: this
// rank joins the job's process group, on its own GPU when there are GPUs.
std::unique_ptr<ProcessGroup> join_launch(Runtime& runtime) {
  const auto launch = detect_launch();
  if (!launch || launch->world_size < 2) return nullptr;
  if (runtime.device.is_cuda()) runtime.device = torch::Device(torch::kCUDA, launch->local_rank);
  return std::make_unique<ProcessGroup>(*launch, runtime.device);
}

}  // namespace

void apply_recipe(const TrainCommand& command, const ModelSpec& spec, TrainOptions& options) {
  options.schedule = command.schedule;
  options.patience = command.patience;
  options.label_smoothing = command.label_smoothing;
  options.augment = command.augment.value_or(command.fine_tune);
  if (!command.fine_tune) {
    options.epochs = command.epochs.value_or(options.augment ? spec.augmented_epochs : spec.default_epochs);
    return;
  }
  if (!spec.make_backbone) throw Error("--fine-tune needs a pretrained backbone: use --model vgg16 or mobilenetv2");
  options.fine_tune.unfreeze_from = command.unfreeze_from.empty() ? spec.unfreeze_from.keras_layer : command.unfreeze_from;
  options.fine_tune.head_epochs = command.epochs.value_or(spec.augmented_epochs);
  options.fine_tune.learning_rate_factor = command.fine_tune_lr_factor;
  options.epochs = options.fine_tune.head_epochs + command.fine_tune_epochs.value_or(recipe::kFineTuneEpochs);
}

int run_train(const TrainCommand& given_command, const Runtime& given_runtime, std::ostream& out) {
  TrainCommand command = given_command;
  Runtime runtime = given_runtime;
  fs::path data_dir;
  if (!command.config.empty()) {
    if (command.resume) throw Error("--config with --resume: a resumed run keeps its own recipe; drop --config");
    const nlohmann::json config = read_settings(command.config);
    adopt_config(config, command, runtime);
    data_dir = dataset_folder(command.data, recorded_data_dir(config));
  } else if (!command.resume) {
    data_dir = dataset_folder(command.data);
  }
  const std::unique_ptr<ProcessGroup> group = join_launch(runtime);
  // Only rank 0 writes the run folder; the other ranks read it to resume.
  const bool writes_run = !group || group->rank() == 0;
  std::optional<RunFolder> folder;
  if (writes_run) folder.emplace(open_run_folder(command));
  try {
    TrainOptions options;
    options.model = parse_model_kind(command.model);
    options.batch_size = command.batch_size;
    options.learning_rate = command.learning_rate;
    options.split_seed = command.split_seed;
    options.cache = command.cache;
    options.initial_eval_batches = command.initial_eval_batches;
    options.feature_cache = command.feature_cache;
    options.image_size = command.image_size.value_or(kDefaultImageSize);
    options.progress = command.progress && writes_run ? stderr : nullptr;
    options.progress_columns = terminal_columns(STDERR_FILENO);
    options.group = group.get();
    // One process: the launcher of a data-parallel run stops its ranks itself.
    std::optional<InterruptHandlers> interrupt_handlers;
    if (!group) {
      interrupt_handlers.emplace();
      options.stop = &stop_requested;
    }

    std::optional<TrainState> resume;
    int best_saved_epoch = 0;  // the epoch best.ckpt holds
    nlohmann::json settings_before;
    std::vector<std::string> class_names_before;
    if (command.resume) {
      if (command.out.empty()) throw Error("--resume needs --out RUN_FOLDER: the run to continue");
      Checkpoint last = load_checkpoint(fs::path(command.out) / kLastCheckpoint, runtime.device);
      data_dir = dataset_folder(command.data, recorded_data_dir(last.meta.settings));
      if (folder) best_saved_epoch = folder->repair(last);
      adopt_run_settings(last.meta, command, options, runtime);
      settings_before = last.meta.settings;
      class_names_before = last.meta.class_names;
      resume = TrainState{last.model, last.optimizer_state, last.meta.history};
    } else {
      apply_recipe(command, model_spec(options.model), options);
    }
    const ModelSpec& spec = model_spec(options.model);
    if (spec.make_backbone && !resume) options.weights = backbone_weights(spec, command.weights, options.progress);
    if (folder) {
      options.image_cache_dir = folder->file(kImageCacheDir);
      options.train_features_file = folder->file(kFeaturesDir) / "train.pt";
      options.validation_features_file = folder->file(kFeaturesDir) / "validation.pt";
    } else if (options.cache == CacheMode::Disk) {
      options.cache = CacheMode::Auto;  // no disk cache outside the run folder: memory when it fits
    }

    // A resumed run keeps its classes (and its --classes subset).
    const std::vector<std::string> classes =
        resume ? settings_before.value("classes", std::vector<std::string>()) : command.classes;
    const DatasetIndex data =
        scan_dataset(data_dir, /*decode_all=*/false, runtime.threads, runtime.decode_limits, classes);
    if (resume) require_classes(class_names_before, data);
    const fs::path run_path = folder ? folder->path() : fs::path(command.out);
    auto settings = settings_json(command, options, runtime, run_path, data, classes, group ? group->world_size() : 1);
    if (resume) keep_original_command(settings_before, settings);
    if (folder) folder->write_settings(settings);

    CheckpointMeta meta;
    meta.kind = options.model;
    meta.image_size = options.image_size;
    meta.preprocessing = preprocessing_text(options.image_size);
    meta.split_seed = options.split_seed;
    meta.seed = runtime.seed;
    meta.settings = settings;
    meta.class_names = data.class_names;
    const TrainResult result =
        train(data, options, runtime,
              [&](const EpochEnd& end) {
                if (!folder) return;
                meta.epochs_done = end.history.back().epoch;
                meta.history = end.history;
                folder->commit_epoch(end.model, end.optimizer_state, meta, end.is_best);
                if (end.is_best) best_saved_epoch = meta.epochs_done;
              },
              resume ? &*resume : nullptr);
    if (folder) {
      std::optional<EvalReport> test;
      if (command.test) try {
          test = test_best_checkpoint(*folder, data, options.batch_size, command.json ? nullptr : options.progress,
                                      runtime);
        } catch (const Error& e) {  // the run is committed: a test split that cannot be evaluated does not undo it
          spdlog::warn("not evaluated on the test split: {}", first_line(e.what()));
        }
      report_result(result.history, best_saved_epoch, *folder, test, command.json, out);
    }
  } catch (const TrainingDiverged& e) {
    if (!folder) throw;
    // What is left of the run, said after the folder is cleaned up.
    const fs::path last = folder->file(kLastCheckpoint);
    if (folder->discard_if_unused())
      throw Error(std::string(e.what()) + " (no epoch was completed: run folder " + folder->path().string() +
                  " was removed)");
    if (e.epochs_done() > 0)
      throw Error(std::string(e.what()) + " (" + last.string() + " keeps epoch " + std::to_string(e.epochs_done()) +
                  ")");
    throw Error(std::string(e.what()) + " (no epoch was completed)");
  } catch (const TrainingInterrupted& interrupted) {
    const bool resumable = folder && fs::exists(folder->file(kLastCheckpoint));
    const std::string run = folder ? folder->path().string() : command.out;
    if (folder) folder->discard_if_unused();
    throw Interrupted(std::string(interrupted.what()) +
                      (resumable ? ": continue with catdog train --out " + run + " --resume"
                                 : ": no epoch was finished, nothing is kept; start the run again"));
  } catch (...) {
    if (folder) folder->discard_if_unused();
    throw;
  }
  return kExitOk;
}

int run_train_ranks(int nproc, const std::vector<std::string>& arguments, bool threads_given) {
  if (detect_launch()) throw Error("--nproc inside a distributed launch: drop --nproc, the launcher started the ranks");
  std::vector<std::string> command{"/proc/self/exe"};
  for (size_t i = 0; i < arguments.size(); ++i) {
    if (arguments[i] == "--nproc") {
      ++i;  // and its value
      continue;
    }
    if (arguments[i].rfind("--nproc=", 0) == 0) continue;
    command.push_back(arguments[i]);
  }
  // The cores shared out: N ranks of all cores each would only contend.
  if (!threads_given) {
    command.push_back("--threads");
    command.push_back(std::to_string(threads_per_share(available_cores(), nproc)));
  }
  return launch_local(nproc, command) == 0 ? kExitOk : kExitFailure;
}

}  // namespace catdog::app
