#include "catdog/export/exported_model.h"

#include "catdog/base/error.h"
#include "catdog/models/registry.h"

namespace catdog {

ExportedModel prepare_export(Checkpoint& checkpoint) {
  const auto& meta = checkpoint.meta;
  ExportedModel exported{lower_classifier(checkpoint.model, meta.image_size), model_name(meta.kind), meta.class_names,
                         meta.preprocessing.empty() ? preprocessing_text(meta.image_size) : meta.preprocessing,
                         CATDOG_VERSION};
  require_same_outputs(
      checkpoint.model, exported.graph,
      [&](const torch::Tensor& images) { return run_inference_graph(exported.graph, images.to(torch::kCPU)); },
      "export");
  if (exported.graph.classes != static_cast<int64_t>(exported.class_names.size()))
    throw Error("the checkpoint names " + std::to_string(exported.class_names.size()) + " classes but its model has " +
                std::to_string(exported.graph.classes) + " outputs: it is damaged, train it again");
  return exported;
}

nlohmann::json export_facts(const ExportedModel& exported) {
  const std::string side = std::to_string(exported.graph.input_size);
  return {{"model", exported.model},
          {"class_names", exported.class_names},
          {"input_size", exported.graph.input_size},
          {"input", "float32 [N, 3, " + side + ", " + side + "]: RGB planes, resized to " + side + "x" + side},
          {"pixel_scaling", "pixel / 127.5 - 1, so values in [-1, 1]; the model does not scale its input"},
          {"preprocessing", exported.preprocessing},
          {"output", "float32 [N, " + std::to_string(exported.class_names.size()) +
                         "]: class probabilities (softmax), in class_names order"},
          {"catdog_version", exported.catdog_version}};
}

}  // namespace catdog
