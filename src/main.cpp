// catdog: the command line. Only wiring: every subcommand's flags are declared
// here once (CLI11 generates --help from them) and handed to one library call.
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "catdog/checkpoint.h"
#include "catdog/dataset.h"
#include "catdog/error.h"
#include "catdog/evaluate.h"
#include "catdog/models.h"
#include "catdog/predict.h"
#include "catdog/runtime.h"
#include "catdog/trainer.h"

namespace {

struct GlobalFlags {
  catdog::RuntimeOptions runtime;
  bool verbose = false;
  bool quiet = false;
};

// The flags every subcommand takes.
void add_global_flags(CLI::App& command, GlobalFlags& flags) {
  command.add_option("--device", flags.runtime.device, "auto (CUDA when available), cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  command.add_option("--threads", flags.runtime.threads, "CPU threads (default: all cores)");
  command.add_option("--seed", flags.runtime.seed, "random seed (weights, shuffling)")->capture_default_str();
  command.add_flag("-v,--verbose", flags.verbose, "debug logging (e.g. names of skipped files)");
  command.add_flag("-q,--quiet", flags.quiet, "warnings and errors only, no progress bars");
}

void add_data_flag(CLI::App& command, std::string& data) {
  command.add_option("--data", data, "dataset folder (default: $CATDOG_DATA, else data/)");
}

void add_checkpoint_flag(CLI::App& command, std::string& checkpoint) {
  command.add_option("--checkpoint", checkpoint,
                     "checkpoint file or run folder (default: best checkpoint of runs/latest)");
}

std::string joined_command_line(int argc, char** argv) {
  std::ostringstream line;
  for (int i = 0; i < argc; ++i) line << (i ? " " : "") << argv[i];
  return line.str();
}

void configure_logging(const GlobalFlags& flags) {
  auto logger = spdlog::stderr_color_mt("catdog");
  logger->set_pattern("%^[%H:%M:%S %l]%$ %v");
  logger->set_level(flags.verbose ? spdlog::level::debug
                    : flags.quiet ? spdlog::level::warn
                                  : spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"catdog: train, evaluate and run cat-vs-dog image classifiers.\n"
               "Mirror, mirror: do I look more like a dog or a cat?"};
  app.set_version_flag("--version", std::string("catdog ") + CATDOG_VERSION);
  app.require_subcommand(1);
  GlobalFlags flags;

  std::string data_dir, grid_png;
  uint64_t split_seed = catdog::kDefaultSplitSeed;
  auto* data = app.add_subcommand("data", "count the images of a dataset, per class and split");
  add_data_flag(*data, data_dir);
  data->add_option("--split-seed", split_seed, "seed of the train/validation/test split")->capture_default_str();
  data->add_option("--grid", grid_png, "write 10 sample training images with labels to this PNG");

  std::string summary_model = "scratch";
  auto* summary = app.add_subcommand("summary", "print a model's layers and parameter counts");
  summary->add_option("--model", summary_model, "scratch, vgg16 or mobilenetv2")->capture_default_str();

  catdog::TrainOptions train_options;
  std::string train_model = "scratch", train_data, train_weights, train_out, cache = "auto";
  auto* train = app.add_subcommand("train", "train a model (RMSprop, per-epoch validation, checkpoints)");
  train->add_option("--model", train_model, "scratch, vgg16 or mobilenetv2")->capture_default_str();
  add_data_flag(*train, train_data);
  train->add_option("--epochs", train_options.epochs, "epochs (default: scratch 10, vgg16/mobilenetv2 5)");
  train->add_option("--batch-size", train_options.batch_size, "images per batch")->capture_default_str();
  train->add_option("--lr", train_options.learning_rate, "RMSprop learning rate")->capture_default_str();
  train->add_option("--weights", train_weights, "Keras ImageNet no-top .h5 for vgg16/mobilenetv2 "
                                                "(default: data/weights/<Keras file name>)");
  train->add_option("--out", train_out, "run folder (default: runs/<model>-<timestamp>)");
  train->add_flag("--resume", train_options.resume, "continue the run in --out from its last checkpoint");
  train->add_option("--split-seed", train_options.split_seed, "seed of the train/validation/test split")
      ->capture_default_str();
  train->add_option("--cache", cache, "decoded-image cache: auto, memory, disk or off")
      ->check(CLI::IsMember({"auto", "memory", "disk", "off"}))
      ->capture_default_str();

  catdog::EvalOptions eval_options;
  std::string eval_data, eval_grid;
  bool eval_json = false;
  auto* eval = app.add_subcommand("eval", "evaluate a checkpoint on the test split");
  add_checkpoint_flag(*eval, eval_options.checkpoint);
  add_data_flag(*eval, eval_data);
  eval->add_option("--split", eval_options.split, "test, validation or train")
      ->check(CLI::IsMember({"test", "validation", "train"}))
      ->capture_default_str();
  eval->add_flag("--json", eval_json, "print the metrics as one JSON object");
  eval->add_option("--grid", eval_grid, "write a 4x8 grid of predictions (plus confusion.png and "
                                        "misclassified.csv beside it)");
  eval->add_option("--batch-size", eval_options.batch_size, "images per batch")->capture_default_str();

  catdog::PredictOptions predict_options;
  std::string save_crop, annotate;
  auto* predict = app.add_subcommand("predict", "say how much dog and how much cat an image is");
  add_checkpoint_flag(*predict, predict_options.checkpoint);
  predict->add_option("images", predict_options.inputs, "image files or folders")->required();
  predict->add_flag("--json", predict_options.json, "one JSON object per image");
  predict->add_flag("--face", predict_options.face, "classify the largest human face (mirror, mirror)");
  predict->add_option("--save-crop", save_crop, "face mode: write the crop that was classified");
  predict->add_option("--annotate", annotate, "write each image with its verdict drawn on into this folder");
  predict->add_option("--batch-size", predict_options.batch_size, "images per batch")->capture_default_str();

  for (auto* command : {data, summary, train, eval, predict}) add_global_flags(*command, flags);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    configure_logging(flags);
    const torch::Device device = catdog::configure_runtime(flags.runtime);
    if (data->parsed()) {
      catdog::report_dataset(catdog::resolve_data_dir(data_dir), split_seed, grid_png, std::cout);
    } else if (summary->parsed()) {
      catdog::Classifier model(catdog::parse_model_kind(summary_model));
      std::cout << catdog::format_summary(model);
    } else if (train->parsed()) {
      train_options.model = catdog::parse_model_kind(train_model);
      train_options.data_dir = catdog::resolve_data_dir(train_data);
      train_options.weights = train_weights;
      train_options.out_dir = train_out;
      train_options.seed = flags.runtime.seed;
      train_options.cache = cache == "memory" ? catdog::CacheMode::Memory
                            : cache == "disk" ? catdog::CacheMode::Disk
                            : cache == "off"  ? catdog::CacheMode::Off
                                              : catdog::CacheMode::Auto;
      train_options.progress = !flags.quiet;
      train_options.command_line = joined_command_line(argc, argv);
      const auto result = catdog::train(train_options, device);
      std::cout << "run folder: " << result.run_dir.string() << "\n";
    } else if (eval->parsed()) {
      eval_options.data_dir = catdog::resolve_data_dir(eval_data);
      eval_options.grid_png = eval_grid;
      eval_options.progress = !flags.quiet && !eval_json;
      const auto report = catdog::evaluate(eval_options, device);
      std::cout << (eval_json ? catdog::report_to_json(report).dump() + "\n" : catdog::format_report(report));
    } else if (predict->parsed()) {
      predict_options.save_crop = save_crop;
      predict_options.annotate_dir = annotate;
      return catdog::run_predict(predict_options, device, std::cout);
    }
  } catch (const catdog::Error& e) {
    std::cerr << "catdog: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {  // LibTorch's c10::Error included
    std::cerr << "catdog: error: " << catdog::first_line(e.what()) << "\n";
    return 1;
  }
  return 0;
}
