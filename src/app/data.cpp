// `catdog data`
#include "catdog/app/commands.h"
#include "catdog/app/environment.h"
#include "catdog/app/output.h"
#include "catdog/base/error.h"
#include "catdog/base/text.h"
#include "catdog/data/dataset.h"
#include "catdog/data/dataset_report.h"
#include "catdog/report/pictures.h"

namespace catdog::app {

int run_data(const DataCommand& command, const Runtime& runtime, std::ostream& out) {
  const auto report = report_dataset(dataset_folder(command.data), command.split_seed, runtime.threads,
                                     runtime.decode_limits, command.classes);
  if (!command.grid_png.empty()) write_sample_grid(report, command.grid_png);
  if (command.json) {
    auto json = dataset_report_to_json(report);
    if (!command.grid_png.empty()) json["grid"] = command.grid_png.string();
    out << json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    out << format_dataset_report(report);
    if (!command.grid_png.empty()) out << "sample grid: " << escape_text(command.grid_png.string()) << "\n";
  }
  return kExitOk;
}

}  // namespace catdog::app
