// `catdog summary`
#include <nlohmann/json.hpp>

#include "catdog/app/commands.h"
#include "catdog/app/output.h"
#include "catdog/models/classifier.h"

namespace catdog::app {

namespace {

// What the input size does to this model: scratch's Dense layer grows with
// it; a backbone's count does not change, but its weights have a native size.
std::string input_size_note(const ModelSpec& spec, int image_size) {
  const std::string side = std::to_string(image_size);
  std::string note = "Input: " + side + "x" + side + " px";
  if (!spec.make_backbone)
    return note + "; the parameter count depends on it (Dense takes (" + side +
           "/8)^2 x 64 = " + std::to_string((image_size / 8) * (image_size / 8) * 64) + " features)\n";
  if (spec.native_image_size)
    note += "; " + spec.name + "'s ImageNet weights were trained at " + std::to_string(*spec.native_image_size) + " px";
  return note + "; the parameter count does not depend on it\n";
}

}  // namespace

int run_summary(const SummaryCommand& command, std::ostream& out) {
  const ModelSpec& spec = model_spec(command.model);
  Classifier model(spec.kind, command.num_classes, command.image_size);
  if (command.fine_tune)
    model->unfreeze_backbone_from(command.unfreeze_from.empty() ? spec.unfreeze_from.keras_layer : command.unfreeze_from);
  if (!command.json) {
    out << format_summary(model) << input_size_note(spec, command.image_size);
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
                        {"image_size", command.image_size},
                        {"native_image_size",
                         spec.native_image_size ? nlohmann::json(*spec.native_image_size) : nlohmann::json()},
                        {"layers", layers},
                        {"total_parameters", total},
                        {"trainable_parameters", trainable}}
             .dump()
      << "\n";
  return kExitOk;
}

}  // namespace catdog::app
