#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/base/error.h"
#include "catdog/base/names.h"
#include "catdog/base/runtime.h"
#include "catdog/data/loader.h"
#include "catdog/data/split.h"
#include "catdog/infer/classify.h"
#include "catdog/models/classifier.h"
#include "catdog/train/optimizer.h"
#include "catdog/train/recipe.h"
#include "catdog/train/trainer.h"

// The application layer: one function per subcommand (src/app/<name>.cpp).
// Each takes its flags as given (validated by the CLI in main.cpp) and the
// process's Runtime, resolves defaults and file names, calls the library,
// writes results to `out` (stdout) and returns the process exit code. Errors
// are thrown as catdog::Error; main prints them.
namespace catdog::app {

// Exit codes: 0 done, 1 an error (or some inputs failed), 2 a usage error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInterrupted = 130;  // 128 + SIGINT, as a shell reports Ctrl+C

// A command stopped by Ctrl+C or SIGTERM: main prints the message (what was
// kept and how to go on) as one line and exits kExitInterrupted.
class Interrupted : public Error {
 public:
  using Error::Error;
};

struct DataCommand {
  std::string data;  // "" = $CATDOG_DATA, else data/
  uint64_t split_seed = kDefaultSplitSeed;
  std::filesystem::path grid_png;
  bool json = false;
  std::vector<std::string> classes;  // count these classes of the dataset alone (empty: all)
};
int run_data(const DataCommand& command, const Runtime& runtime, std::ostream& out);

struct SummaryCommand {
  std::string model = "scratch";
  bool json = false;
  bool fine_tune = false;     // show what fine-tuning's stage 2 trains
  std::string unfreeze_from;  // "" = the model's default point
  int num_classes = 2;        // the head's outputs
  int image_size = kDefaultImageSize;  // the input side: scratch's parameter count depends on it
};
int run_summary(const SummaryCommand& command, std::ostream& out);

struct TrainCommand {
  std::string model = "scratch";
  std::string data;
  std::optional<int> epochs;  // unset = the registry's recipe (models.h: default_epochs, augmented_epochs)
  int batch_size = recipe::kBatchSize;
  double learning_rate = recipe::kLearningRate;
  // Fine-tuning (trainer.h's FineTuning): stage 2's epochs, first unfrozen
  // layer ("" = the model's default point) and learning-rate factor.
  bool fine_tune = false;
  std::optional<int> fine_tune_epochs;  // unset = recipe::kFineTuneEpochs
  std::string unfreeze_from;
  double fine_tune_lr_factor = recipe::kFineTuneLearningRateFactor;
  std::optional<bool> augment;  // unset = on with fine_tune, else off
  // The input side (preprocess.h); unset = kDefaultImageSize, or with --resume
  // the run's (a different one is an Error).
  std::optional<int> image_size;
  Schedule schedule = Schedule::Constant;
  int patience = 0;
  double label_smoothing = 0;
  std::string weights;  // "" = the cache's copy of the model's Keras file (app/weights.h)
  std::string out;      // "" = runs/<model>-<timestamp>
  bool resume = false;
  bool exist_ok = false;
  uint64_t split_seed = kDefaultSplitSeed;
  CacheMode cache = CacheMode::Auto;
  bool json = false;
  bool progress = true;
  bool test = true;  // end by evaluating best.ckpt on the test split (run_folder.h's kTestResultFile)
  int initial_eval_batches = recipe::kInitialEvalBatches;
  bool feature_cache = true;
  std::string command_line;  // recorded in the run folder
  std::vector<std::string> classes;  // train on these classes of the dataset alone (empty: all)
  // A run's settings.json whose recipe (and data folder) this run repeats;
  // the flags in flags_given win over it.
  std::filesystem::path config;
  // The flags given on the command line ("--lr"): they override --config, and
  // --resume warns about those that differ from the run's recipe.
  std::vector<std::string> flags_given;
};
int run_train(const TrainCommand& command, const Runtime& runtime, std::ostream& out);
// The recipe the flags ask for on top of the registry's defaults for `spec`:
// epochs, fine-tuning stages, schedule, augmentation.
void apply_recipe(const TrainCommand& command, const ModelSpec& spec, TrainOptions& options);
// `catdog train --nproc N`: N local ranks of the same command (`arguments`:
// argv after the program name, --nproc included), each with the variables
// torchrun sets; --threads defaults to the cores shared out among them.
int run_train_ranks(int nproc, const std::vector<std::string>& arguments, bool threads_given);

struct EvalCommand {
  std::string checkpoint;  // file, run folder or "" (runs/latest)
  std::string data;
  std::string split = "test";
  std::filesystem::path grid_png;  // also confusion.png and misclassified.csv beside it
  bool json = false;
  bool tta = false;  // also classify each image's mirror image, average the two
  int batch_size = 64;
  bool progress = true;
};
int run_eval(const EvalCommand& command, const Runtime& runtime, std::ostream& out);

struct PredictCommand {
  std::string checkpoint;
  std::vector<std::string> inputs;
  bool json = false;
  bool face = false;
  std::filesystem::path save_crop;
  std::filesystem::path annotate_dir;
  std::filesystem::path explain_dir;  // Grad-CAM overlays of what was classified
  bool tta = false;
  int batch_size = 32;
  int top_k = 3;  // classes named in the sentence when there are more than two
};
// Exit code 1 when any input failed (each is reported, the rest predicted).
int run_predict(const PredictCommand& command, const Runtime& runtime, std::ostream& out, std::ostream& err);

enum class ExportFormat { Onnx, TorchScript, Web };
inline constexpr Named<ExportFormat> kExportFormatNames[] = {
    {ExportFormat::Onnx, "onnx"}, {ExportFormat::TorchScript, "torchscript"}, {ExportFormat::Web, "web"}};
struct ExportCommand {
  std::string checkpoint;  // file, run folder or "" (runs/latest)
  ExportFormat format = ExportFormat::Onnx;
  std::string out;  // "" = beside the checkpoint: <name>.onnx, <name>.pt, <name>-web/
};
// Environment: CATDOG_ONNXRUNTIME_WEB, the npm package onnxruntime-web's folder
// (default: .deps/node_modules/onnxruntime-web of the source tree, as
// scripts/install_deps.sh installs it).
int run_export(const ExportCommand& command, std::ostream& out);

}  // namespace catdog::app
