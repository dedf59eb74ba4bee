// catdog: the command line. Declares every flag once (CLI11 generates --help
// and validates values here, nowhere else), builds the one Runtime, and hands
// each subcommand to the application layer (src/app/).
#include <cmath>
#include <iostream>
#include <limits>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "catdog/app/commands.h"
#include "catdog/app/environment.h"
#include "catdog/app/serve.h"
#include "catdog/base/error.h"
#include "catdog/base/runtime.h"
#include "catdog/base/text.h"
#include "catdog/data/preprocess.h"
#include "catdog/models/classifier.h"
#include "cli_help.h"

namespace {

namespace app = catdog::app;

struct GlobalFlags {
  catdog::RuntimeOptions runtime;
  std::string device = "auto";
  std::string precision = "auto";
  bool verbose = false;
  bool quiet = false;
};

constexpr int kMaxCount = std::numeric_limits<int>::max();

// Every floating-point flag: a finite number in [min, max] (above min when
// `above_min`). CLI::Range alone lets NaN through (every comparison with it
// is false), and a NaN or an infinity removes a cap or poisons a run.
CLI::Validator finite_number(double min, double max, bool above_min = false) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        std::istringstream in(text);
        double value = 0;
        in >> value;
        if (in.fail() || !in.eof() || !std::isfinite(value))
          return "must be a finite number, not " + text;
        if (above_min ? value <= min : value < min) return "must be " + std::string(above_min ? "above " : "at least ") +
                                                           CLI::detail::to_string(min) + ", not " + text;
        if (value > max) return "must be at most " + CLI::detail::to_string(max) + ", not " + text;
        return "";
      },
      above_min ? "FINITE > " + CLI::detail::to_string(min)
                : "FINITE in [" + CLI::detail::to_string(min) + " - " + CLI::detail::to_string(max) + "]");
}

// Every whole-number flag: decimal digits in [min, max]. CLI::Range calls
// 2.5, 1e9 and 99999999999 all "not in range"; the first two are no whole
// numbers, the last one too large. `max_why` says where `max` comes from.
// A transform, not a check: CLI11 keeps what a check does to the text.
CLI::Validator whole_number(int64_t min, int64_t max, const std::string& max_why = "") {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        const auto value = catdog::parse_whole_number(text);
        if (!value) return "must be a whole number, not " + text;
        if (*value < min) return "must be at least " + std::to_string(min) + ", not " + text;
        if (*value > max) return "must be at most " + std::to_string(max) + max_why + ", not " + text;
        text = std::to_string(*value);  // CLI11 reads "010" as octal: hand it plain digits
        return "";
      },
      "INT in [" + std::to_string(min) + " - " + std::to_string(max) + "]");
}

// Flags every subcommand takes, accepted before or after the subcommand's name.
void add_global_flags(CLI::App& app, GlobalFlags& flags) {
  app.add_option("--device", flags.device, "auto (CUDA when available), cpu or cuda")
      ->check(CLI::IsMember(catdog::names_of(catdog::kDeviceNames)))
      ->capture_default_str();
  app.add_option("--threads", flags.runtime.threads,
                 "CPU threads for LibTorch and every decoding pool (default: all cores)")
      ->transform(whole_number(1, catdog::max_threads(),
                           " (twice the " + std::to_string(catdog::available_cores()) + " cores here)"));
  app.add_option("--max-pixels", flags.runtime.decode_limits.max_pixels,
                 "largest image (width x height, read from its header) catdog decodes; larger ones are skipped")
      ->transform(whole_number(1, int64_t{1} << 40))
      ->capture_default_str();
  flags.runtime.decode_limits.how_to_raise = "raise --max-pixels";
  app.add_flag("-v,--verbose", flags.verbose, "debug logging (e.g. names of skipped files)");
  app.add_flag("-q,--quiet", flags.quiet, "warnings and errors only, no progress bars");
}

void add_precision_flag(CLI::App& command, GlobalFlags& flags) {
  command.add_option("--precision", flags.precision, "number format of the model's arithmetic: auto, fp32 or bf16")
      ->check(CLI::IsMember(catdog::names_of(catdog::kPrecisionNames)))
      ->capture_default_str();
}

CLI::Option* add_unfreeze_flag(CLI::App& command, std::string& layer) {
  return command.add_option("--unfreeze-from", layer,
                            "fine-tuning trains the backbone from this Keras layer on (default: mobilenetv2 "
                            "block_11_depthwise, the TF tutorial's layer 100; vgg16 block5_conv1)");
}

void add_data_flag(CLI::App& command, std::string& data) {
  command.add_option("--data", data, "dataset folder (default: $CATDOG_DATA, else data/)");
}

// train and data: the same subset of classes, so that data shows the split train will use.
void add_classes_flag(CLI::App& command, std::vector<std::string>& classes, const std::string& verb) {
  command
      .add_option("--classes", classes,
                  verb + " these classes of the dataset alone, comma-separated (two or more; default: all)")
      ->delimiter(',')
      ->expected(1, -1);
}

void add_checkpoint_flag(CLI::App& command, std::string& checkpoint) {
  command.add_option("--checkpoint", checkpoint,
                     "checkpoint file or run folder (default: best checkpoint of runs/latest)");
}

CLI::Option* add_batch_size_flag(CLI::App& command, int& batch_size) {
  return command.add_option("--batch-size", batch_size, "images per batch")
      ->transform(whole_number(1, 1 << 16))
      ->capture_default_str();
}

void add_tta_flag(CLI::App& command, bool& tta) {
  command.add_flag("--tta", tta,
                   "test-time augmentation: average the model's probabilities for each image and its mirror image");
}

// --image-size: preprocess.h's rule, checked while parsing (a usage error).
CLI::Option* add_image_size_flag(CLI::App& command, int& image_size, const std::string& purpose) {
  std::string native;
  for (const auto& spec : catdog::model_registry())
    if (spec.native_image_size)
      native += (native.empty() ? "" : ", ") + spec.name + " " + std::to_string(*spec.native_image_size);
  return command
      .add_option("--image-size", image_size,
                  "input side in px, " + catdog::image_size_rule() + " (default " +
                      std::to_string(catdog::kDefaultImageSize) + ", the tutorial's; the weights' own: " + native +
                      "); " + purpose)
      ->transform(CLI::Validator(
          [](std::string& text) -> std::string {
            const auto side = catdog::parse_whole_number(text);
            if (!side || *side < catdog::kMinImageSize || *side > catdog::kMaxImageSize ||
                !catdog::is_valid_image_size(static_cast<int>(*side)))
              return "must be " + catdog::image_size_rule() + ", not " + text;
            text = std::to_string(*side);  // CLI11 reads "0160" as octal: hand it plain digits
            return "";
          },
          "SIZE"));
}

// "--epochs"'s help, from the registry's recipes.
std::string epochs_help() {
  std::string plain, augmented;
  for (const auto& spec : catdog::model_registry()) {
    const std::string separator = plain.empty() ? "" : ", ";
    plain += separator + spec.name + " " + std::to_string(spec.default_epochs);
    augmented += separator + spec.name + " " + std::to_string(spec.augmented_epochs);
  }
  return "epochs (default: " + plain + "; augmented or --fine-tune's first stage: " + augmented + ")";
}

std::string joined_command_line(int argc, char** argv) {
  std::ostringstream line;
  line << "catdog";
  for (int i = 1; i < argc; ++i) line << " " << argv[i];
  return line.str();
}

// A log message as a JSON string: log lines that log collectors parse (serve --json).
class JsonMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm&, spdlog::memory_buf_t& out) override {
    const std::string text = nlohmann::json(std::string(message.payload.data(), message.payload.size()))
                                 .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessage>(); }
};

void configure_logging(const GlobalFlags& flags, bool json_lines) {
  // NO_COLOR, TERM=dumb, a log file or JSON lines: plain lines.
  auto logger = catdog::app::use_colour(STDERR_FILENO) && !json_lines ? spdlog::stderr_color_mt("catdog")
                                                                       : spdlog::stderr_logger_mt("catdog");
  if (json_lines) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<JsonMessage>('*').set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","message":%*})");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%^[%H:%M:%S %l]%$ %v");
  }
  logger->set_level(flags.verbose ? spdlog::level::debug
                    : flags.quiet ? spdlog::level::warn
                                  : spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"catdog: train, evaluate and run cat-vs-dog image classifiers.\n"
               "Mirror, mirror: do I look more like a dog or a cat?",
               "catdog"};
  cli.set_version_flag("--version", std::string("catdog ") + CATDOG_VERSION);
  cli.formatter(std::make_shared<catdog::cli::CompactFormatter>());
  cli.footer("catdog help SUBCOMMAND (or catdog SUBCOMMAND --help): that subcommand's flags.");
  cli.require_subcommand(1);
  GlobalFlags flags;
  add_global_flags(cli, flags);
  const auto model_choice = CLI::IsMember(catdog::model_names());
  std::string model_names;
  for (const auto& name : catdog::model_names()) model_names += (model_names.empty() ? "" : ", ") + name;

  app::DataCommand data_command;
  auto* data = cli.add_subcommand("data", "count the images of a dataset, per class and split");
  add_data_flag(*data, data_command.data);
  data->add_option("--split-seed", data_command.split_seed, "seed of the train/validation/test split")
      ->capture_default_str();
  data->add_option("--grid", data_command.grid_png, "write 10 sample training images with labels to this PNG");
  data->add_flag("--json", data_command.json, "print the counts as one JSON object");
  add_classes_flag(*data, data_command.classes, "count");

  app::SummaryCommand summary_command;
  auto* summary = cli.add_subcommand("summary", "print a model's layers and parameter counts");
  summary->add_option("--model", summary_command.model, model_names)->check(model_choice)->capture_default_str();
  summary->add_flag("--json", summary_command.json, "print the table as one JSON object");
  summary->add_flag("--fine-tune", summary_command.fine_tune, "count as trainable what fine-tuning trains");
  auto* summary_unfreeze_option = add_unfreeze_flag(*summary, summary_command.unfreeze_from);
  summary->add_option("--num-classes", summary_command.num_classes, "outputs of the head: the dataset's classes")
      ->transform(whole_number(2, 100000))
      ->capture_default_str();
  add_image_size_flag(*summary, summary_command.image_size, "scratch's parameter count depends on it");

  app::TrainCommand train_command;
  int epochs = 0;
  std::string cache = "auto";
  auto* train = cli.add_subcommand("train", "train a model (RMSprop, per-epoch validation, checkpoints)");
  train->add_option("--model", train_command.model, model_names)->check(model_choice)->capture_default_str();
  add_data_flag(*train, train_command.data);
  int image_size = catdog::kDefaultImageSize;
  auto* image_size_option = add_image_size_flag(
      *train, image_size,
      "recorded in the checkpoint, which eval, predict, serve and export follow; --resume keeps the run's");
  auto* epochs_option = train->add_option("--epochs", epochs, epochs_help())
                            ->transform(whole_number(1, kMaxCount));
  add_batch_size_flag(*train, train_command.batch_size);
  train->add_option("--lr", train_command.learning_rate, "RMSprop learning rate")
      ->check(finite_number(0, std::numeric_limits<double>::max(), true))
      ->capture_default_str();
  train->add_option("--weights", train_command.weights,
                    "Keras no-top .h5 for vgg16/mobilenetv2 (default: Keras' own, downloaded once into ~/.cache/catdog/weights)");
  train->add_option("--out", train_command.out, "run folder (default: runs/<model>-<timestamp>)");
  train->add_flag("--resume", train_command.resume,
                  "continue the run in --out from its last checkpoint, with its recipe and data folder");
  train->add_option("--config", train_command.config,
                    "repeat a run's recipe and data folder from its settings.json (flags given win)");
  train->add_flag("--exist-ok", train_command.exist_ok, "train into an --out folder that holds a run, replacing it");
  train->add_option("--seed", flags.runtime.seed, "random seed (initial weights, shuffling)")->capture_default_str();
  train->add_option("--split-seed", train_command.split_seed, "seed of the train/validation/test split")
      ->capture_default_str();
  train->add_option("--cache", cache, "decoded-image cache: auto, memory, disk or off")
      ->check(CLI::IsMember(catdog::names_of(catdog::kCacheModeNames)))
      ->capture_default_str();
  train->add_flag("--fine-tune", train_command.fine_tune,
                  "vgg16/mobilenetv2: --epochs of the head, then --fine-tune-epochs of the head and "
                  "the backbone's top at a tenth of the rate; augments");
  int fine_tune_epochs = 0;
  auto* fine_tune_epochs_option =
      train->add_option("--fine-tune-epochs", fine_tune_epochs, "fine-tuning's second stage (default " + std::to_string(catdog::recipe::kFineTuneEpochs) + ")")
          ->transform(whole_number(1, kMaxCount));
  auto* unfreeze_option = add_unfreeze_flag(*train, train_command.unfreeze_from);
  auto* fine_tune_lr_factor_option = train->add_option("--fine-tune-lr-factor", train_command.fine_tune_lr_factor,
                    "fine-tuning's second stage runs at --lr times this")
      ->check(finite_number(0, std::numeric_limits<double>::max(), true))
      ->capture_default_str();
  int augment = 0;
  train->add_flag("--augment,!--no-augment", augment,
                  "random crops, rotations, flips and colour on the training images (default: with --fine-tune)");
  std::string schedule = "constant";
  train->add_option("--schedule", schedule, "learning rate per stage: constant, or cosine (one epoch of warm-up)")
      ->check(CLI::IsMember(catdog::names_of(catdog::kScheduleNames)))
      ->capture_default_str();
  train->add_option("--patience", train_command.patience,
                    "stop when val_loss has not improved for N epochs (0: never; fine-tuning: in stage 2)")
      ->transform(whole_number(0, kMaxCount))
      ->capture_default_str();
  train->add_option("--label-smoothing", train_command.label_smoothing, "of the training loss, 0 to 0.5")
      ->check(finite_number(0.0, 0.5))
      ->capture_default_str();
  train->add_flag("--json", train_command.json, "print the run folder, best epoch and final metrics as JSON");
  bool no_test = false;
  train->add_flag("--no-test", no_test, "end without evaluating the best checkpoint on the test split");
  int nproc = 1;
  train->add_option("--nproc", nproc,
                    "data-parallel on this machine: start N ranks of this training, batch size and --threads per rank")
      ->transform(whole_number(1, catdog::available_cores(),
                           " (the cores here: each rank needs one of its own; more only contend)"));
  add_precision_flag(*train, flags);
  add_classes_flag(*train, train_command.classes, "train on");

  app::EvalCommand eval_command;
  auto* eval = cli.add_subcommand("eval", "evaluate a checkpoint on the test split");
  add_checkpoint_flag(*eval, eval_command.checkpoint);
  add_data_flag(*eval, eval_command.data);
  eval->add_option("--split", eval_command.split, "test, validation or train")
      ->check(CLI::IsMember({"test", "validation", "train"}))
      ->capture_default_str();
  eval->add_flag("--json", eval_command.json, "print the metrics as one JSON object");
  eval->add_option("--grid", eval_command.grid_png,
                   "write a 4x8 grid of predictions (plus confusion.png and misclassified.csv beside it)");
  add_tta_flag(*eval, eval_command.tta);
  add_batch_size_flag(*eval, eval_command.batch_size);
  add_precision_flag(*eval, flags);

  app::PredictCommand predict_command;
  auto* predict = cli.add_subcommand("predict", "say how much dog and how much cat an image is");
  add_checkpoint_flag(*predict, predict_command.checkpoint);
  predict->add_option("images", predict_command.inputs, "image files or folders")->required();
  predict->add_flag("--json", predict_command.json, "one JSON object per input (failed ones with an \"error\")");
  predict->add_flag("--face", predict_command.face, "classify the largest human face (mirror, mirror)");
  predict->add_option("--save-crop", predict_command.save_crop, "face mode: write the crop that was classified");
  predict->add_option("--annotate", predict_command.annotate_dir,
                      "write each image with its verdict drawn on into this folder (never over an input)");
  predict->add_option("--explain", predict_command.explain_dir,
                      "write each image with its Grad-CAM heat map (what made it say dog or cat) into this folder");
  add_tta_flag(*predict, predict_command.tta);
  predict->add_option("--top-k", predict_command.top_k, "classes named in the sentence when there are more than two")
      ->transform(whole_number(1, 100000))
      ->capture_default_str();
  add_batch_size_flag(*predict, predict_command.batch_size);
  add_precision_flag(*predict, flags);

  app::ExportCommand export_command;
  std::string export_format;
  auto* export_ = cli.add_subcommand("export", "write a checkpoint's model as ONNX, TorchScript or a web page that runs it");
  add_checkpoint_flag(*export_, export_command.checkpoint);
  export_
      ->add_option("--format", export_format,
                   "onnx (input [N,3,S,S] pixels scaled to [-1,1] at the checkpoint's input size S, output class "
                   "probabilities), torchscript (a .pt Python's torch.jit.load runs) or web (a folder: a page "
                   "classifying in the browser)")
      ->check(CLI::IsMember(catdog::names_of(app::kExportFormatNames)))
      ->required();
  export_->add_option("-o,--out", export_command.out,
                      "file (onnx, torchscript) or folder (web) to write (default: beside the checkpoint, "
                      "e.g. runs/x/best.onnx, best.pt, best-web/)");

  app::ServeOptions serve_options;
  double max_upload_mb = 10;
  int timeout_seconds = static_cast<int>(serve_options.request_timeout.count());
  auto* serve = cli.add_subcommand("serve", "a web page (and JSON API) that says dog or cat, with a heat map");
  add_checkpoint_flag(*serve, serve_options.checkpoint);
  serve->add_option("--host", serve_options.host, "address to listen on (not 127.0.0.1: reachable from other machines)")
      ->capture_default_str();
  serve->add_option("--port", serve_options.port, "port (0: any free one)")
      ->transform(whole_number(0, 65535))
      ->capture_default_str();
  serve->add_option("--max-upload", max_upload_mb, "largest upload, MB")
      ->check(finite_number(0.001, 1024.0))
      ->capture_default_str();
  serve->add_option("--workers", serve_options.workers, "requests processed at once (they share --threads)")
      ->transform(whole_number(1, 256))
      ->capture_default_str();
  serve->add_option("--queue", serve_options.queue, "requests waiting beyond those; more get 503")
      ->transform(whole_number(0, 4096))
      ->capture_default_str();
  serve->add_option("--timeout", timeout_seconds,
                    "seconds a request's head and body may take to arrive, and to wait for a worker")
      ->transform(whole_number(1, 3600))
      ->capture_default_str();
  serve->add_option("--allow-host", serve_options.allowed_hosts,
                    "answer requests for this host name too (repeatable; default: localhost and this machine's "
                    "addresses only, against DNS rebinding)")
      ->allow_extra_args(false);
  serve->add_option("--max-connections", serve_options.max_connections,
                    "connections open at once, a thread each; more get 503")
      ->transform(whole_number(1, 1024))
      ->capture_default_str();
  serve->add_option("--max-connections-per-client", serve_options.max_connections_per_client,
                    "connections open at once from one address; more get 503")
      ->transform(whole_number(1, 1024))
      ->capture_default_str();
  serve->add_option("--save-dir", serve_options.save_dir, "keep every upload in this folder (default: nothing is written)");
  serve->add_flag("--json", serve_options.json_logs,
                  "log as JSON lines (time, level, message) on stderr; the API answers JSON either way");

  for (auto* command : {data, summary, train, eval, predict, export_, serve})
    command->fallthrough()->footer("Global flags (before or after the subcommand): --device, --threads, -v, -q; "
                                   "see catdog --help");

  if (const auto answered = catdog::cli::answer_before_parsing(cli, argc, argv, std::cout, std::cerr)) return *answered;
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return cli.exit(e);  // --help, --version
    std::cerr << "catdog: error: " << catdog::cli::explain_parse_error(cli, e, argc, argv) << "\n";
    return app::kExitUsage;
  }
  // Fine-tuning's flags would be ignored without --fine-tune: a usage error.
  // (--resume keeps the run's own recipe; its --fine-tune-epochs lengthens stage 2.)
  const bool fine_tunes = (train->parsed() && (train_command.fine_tune || train_command.resume)) ||
                          (summary->parsed() && summary_command.fine_tune);
  for (const auto* option :
       {fine_tune_epochs_option, unfreeze_option, fine_tune_lr_factor_option, summary_unfreeze_option})
    if (option->count() > 0 && !fine_tunes) {
      std::cerr << "catdog: error: " << option->get_name()
                << " applies to fine-tuning: add --fine-tune (with --model mobilenetv2 or vgg16), or drop it "
                   "(see catdog --help)\n";
      return app::kExitUsage;
    }

  try {
    configure_logging(flags, serve->parsed() && serve_options.json_logs);
    if (train->parsed() && nproc > 1)
      return app::run_train_ranks(nproc, std::vector<std::string>(argv + 1, argv + argc), flags.runtime.threads > 0);
    flags.runtime.precision = catdog::parse_precision(flags.precision);
    flags.runtime.device = catdog::parse_named(catdog::kDeviceNames, flags.device, "device");
    const catdog::Runtime runtime = catdog::configure_runtime(flags.runtime);
    if (data->parsed()) return app::run_data(data_command, runtime, std::cout);
    if (summary->parsed()) return app::run_summary(summary_command, std::cout);
    if (train->parsed()) {
      if (epochs_option->count() > 0) train_command.epochs = epochs;
      if (image_size_option->count() > 0) train_command.image_size = image_size;
      if (fine_tune_epochs_option->count() > 0) train_command.fine_tune_epochs = fine_tune_epochs;
      if (augment != 0) train_command.augment = augment > 0;
      train_command.schedule = catdog::parse_schedule(schedule);
      train_command.cache = catdog::parse_cache_mode(cache);
      train_command.progress = !flags.quiet;
      train_command.test = !no_test;
      train_command.command_line = joined_command_line(argc, argv);
      for (const CLI::Option* option : train->get_options())
        if (option->count() > 0) train_command.flags_given.push_back(option->get_name());
      return app::run_train(train_command, runtime, std::cout);
    }
    if (eval->parsed()) {
      eval_command.progress = !flags.quiet;
      return app::run_eval(eval_command, runtime, std::cout);
    }
    if (predict->parsed()) return app::run_predict(predict_command, runtime, std::cout, std::cerr);
    if (export_->parsed()) {
      export_command.format = catdog::parse_named(app::kExportFormatNames, export_format, "export format");
      return app::run_export(export_command, std::cout);
    }
    if (serve->parsed()) {
      serve_options.max_upload = static_cast<size_t>(max_upload_mb * 1024 * 1024);
      serve_options.request_timeout = std::chrono::seconds(timeout_seconds);
      return app::run_serve(serve_options, runtime);
    }
  } catch (const app::Interrupted& e) {
    std::cerr << "catdog: " << e.what() << "\n";
    return app::kExitInterrupted;
  } catch (const std::exception& e) {  // catdog::Error, and LibTorch's c10::Error
    std::cerr << "catdog: error: " << catdog::first_line(e.what()) << "\n";
    return app::kExitFailure;
  }
  return app::kExitOk;
}
