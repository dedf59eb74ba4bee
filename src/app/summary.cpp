// `catdog summary`
#include <nlohmann/json.hpp>

#include "catdog/app/commands.h"
#include "catdog/app/output.h"
#include "catdog/models/classifier.h"

namespace catdog::app {

int run_summary(const SummaryCommand& command, std::ostream& out) {
  const ModelSpec& spec = model_spec(command.model);
  Classifier model(spec.kind, command.num_classes);
  if (command.fine_tune)
    model->unfreeze_backbone_from(command.unfreeze_from.empty() ? spec.unfreeze_from.keras_layer : command.unfreeze_from);
  if (!command.json) {
    out << format_summary(model);
    return kExitOk;
  }
  nlohmann::json layers = nlohmann::json::array();
  int64_t total = 0, trainable = 0;
  for (const auto& row : model->summary()) {
    layers.push_back({{"layer", row.name},
                      {"output_shape", row.output_shape},
                      {"parameters", row.parameters},
                      {"trainable_parameters", row.trainable_parameters}});
    total += row.parameters;
    trainable += row.trainable_parameters;
  }
  out << nlohmann::json{{"model", command.model},
                        {"layers", layers},
                        {"total_parameters", total},
                        {"trainable_parameters", trainable}}
             .dump()
      << "\n";
  return kExitOk;
}

}  // namespace catdog::app
