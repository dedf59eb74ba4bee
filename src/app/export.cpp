// `catdog export`: a checkpoint's model in a format other runtimes run.
#include "catdog/app/commands.h"
#include "catdog/app/environment.h"
#include "catdog/app/run_folder.h"
#include "catdog/base/error.h"
#include "catdog/base/text.h"
#include "catdog/export/exported_model.h"
#include "catdog/export/onnx.h"
#include "catdog/export/torchscript.h"
#include "catdog/export/web_mirror.h"
#include "catdog/store/checkpoint.h"

namespace catdog::app {

namespace fs = std::filesystem;

namespace {

// Without -o: beside the checkpoint, named after it (runs/x/best.onnx, best.pt, best-web/).
fs::path default_destination(const fs::path& checkpoint, ExportFormat format) {
  const std::string stem = checkpoint.stem().string();
  switch (format) {
    case ExportFormat::Onnx: return checkpoint.parent_path() / (stem + ".onnx");
    case ExportFormat::TorchScript: return checkpoint.parent_path() / (stem + ".pt");
    case ExportFormat::Web: break;
  }
  return checkpoint.parent_path() / (stem + "-web");
}

}  // namespace

int run_export(const ExportCommand& command, std::ostream& out) {
  const fs::path checkpoint_file = resolve_checkpoint(command.checkpoint);
  Checkpoint checkpoint = load_run_checkpoint(checkpoint_file, torch::kCPU);
  const ExportedModel exported = prepare_export(checkpoint);
  const fs::path destination =
      command.out.empty() ? default_destination(checkpoint_file, command.format) : fs::path(command.out);
  switch (command.format) {
    case ExportFormat::Onnx: export_onnx(exported, destination); break;
    case ExportFormat::TorchScript: export_torchscript(exported, destination); break;
    case ExportFormat::Web: {
      const fs::path runtime = onnxruntime_web_folder();
      if (!fs::is_directory(runtime))
        throw Error("ONNX Runtime Web is not at " + runtime.string() +
                    ": run scripts/install_deps.sh, or set CATDOG_ONNXRUNTIME_WEB to the folder of the npm "
                    "package onnxruntime-web");
      export_web(exported, destination, runtime);
      break;
    }
  }
  std::string classes;
  for (const auto& name : exported.class_names) classes += (classes.empty() ? "" : ", ") + name;
  out << "wrote " << escape_text(destination.string()) << ": " << exported.model << ", classes " << classes
      << ", input [N, 3, " << exported.graph.input_size << ", " << exported.graph.input_size
      << "] with pixels scaled to [-1, 1]\n";
  return kExitOk;
}

}  // namespace catdog::app
