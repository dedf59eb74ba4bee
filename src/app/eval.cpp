// `catdog eval`
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "catdog/app/commands.h"
#include "catdog/app/environment.h"
#include "catdog/app/output.h"
#include "catdog/app/run_folder.h"
#include "catdog/base/atomic_file.h"
#include "catdog/data/dataset.h"
#include "catdog/infer/evaluate.h"
#include "catdog/report/charts.h"
#include "catdog/report/pictures.h"

namespace catdog::app {

namespace fs = std::filesystem;

namespace {

// The worst mistakes drawn beside the grid: two rows of five.
constexpr size_t kTopLosses = 10;

// A split of another dataset than the training one may hold training photos
// in its test part: the numbers would then flatter the model.
void warn_if_other_dataset(const CheckpointMeta& meta, const DatasetIndex& data, const std::string& split) {
  const std::string trained_on = meta.settings.value("dataset_fingerprint", "");
  if (trained_on.empty()) return;  // a checkpoint from before fingerprints
  if (trained_on == dataset_fingerprint(data)) return;
  spdlog::warn("{} is not the dataset this checkpoint was trained on ({} images then, {} now): its {} split may "
               "hold photos the model was trained on",
               data.root.string(), meta.settings.value("dataset_images", 0), data.samples.size(), split);
}

// The run's --classes subset: its own dataset is evaluated on the classes it trained on.
std::vector<std::string> trained_subset(const CheckpointMeta& meta) {
  if (!meta.settings.is_object()) return {};
  const auto classes = meta.settings.find("classes");
  return classes != meta.settings.end() && classes->is_array() ? classes->get<std::vector<std::string>>()
                                                               : std::vector<std::string>();
}

}  // namespace

int run_eval(const EvalCommand& command, const Runtime& runtime, std::ostream& out) {
  if (!command.grid_png.empty()) require_output_folder(command.grid_png.parent_path(), "--grid");
  const fs::path checkpoint_file = resolve_checkpoint(command.checkpoint);
  Checkpoint checkpoint = load_run_checkpoint(checkpoint_file, runtime.device);
  const fs::path data_dir = dataset_folder(command.data, recorded_data_dir(checkpoint.meta.settings));
  const DatasetIndex data = scan_dataset(data_dir, /*decode_all=*/false, runtime.threads, runtime.decode_limits,
                                         trained_subset(checkpoint.meta));
  require_classes(checkpoint.meta.class_names, data);  // before the warning: other classes are the whole story
  warn_if_other_dataset(checkpoint.meta, data, command.split);

  EvalOptions options;
  options.split = command.split;
  options.batch_size = command.batch_size;
  options.tta = command.tta;
  options.progress = command.progress && !command.json ? stderr : nullptr;
  options.progress_columns = terminal_columns(STDERR_FILENO);
  EvalReport report = evaluate(checkpoint, data, options, runtime);
  report.checkpoint = checkpoint_file.string();

  if (!command.grid_png.empty()) {
    const fs::path folder = command.grid_png.parent_path();
    write_prediction_grid(report, command.grid_png);
    plot_confusion_matrix(report.confusion, report.class_names, folder / "confusion.png");
    write_file_atomically(folder / "misclassified.csv", mistakes_csv(report));
    const size_t worst = write_top_losses(report, kTopLosses, folder / "top_losses.png");
    spdlog::info("wrote {}, {}, {}{}", command.grid_png.string(), (folder / "confusion.png").string(),
                 (folder / "misclassified.csv").string(),
                 worst ? " and " + (folder / "top_losses.png").string() : std::string(" (no mistakes to show)"));
  }
  out << (command.json ? eval_report_to_json(report).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"
                       : format_eval_report(report));
  return kExitOk;
}

}  // namespace catdog::app
