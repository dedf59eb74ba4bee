#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/infer/inference_graph.h"
#include "catdog/store/checkpoint.h"

namespace catdog {

// A checkpoint made ready for every export format: the network as a graph,
// and what a user of the file needs to know to feed it and read its output.
struct ExportedModel {
  InferenceGraph graph;
  std::string model;                     // registry name, e.g. "mobilenetv2"
  std::vector<std::string> class_names;  // output i is the probability of class_names[i]
  std::string preprocessing;             // the checkpoint's, e.g. "RGB, bilinear resize to 160x160, x / 127.5 - 1"
  std::string catdog_version;            // of the catdog that wrote the export
};

// Lowers the checkpoint's model (lower_classifier) and checks the graph
// against it (require_same_outputs); an Error when its class names do not
// match its output count.
ExportedModel prepare_export(Checkpoint& checkpoint);

// The facts every format carries (ONNX metadata_props, TorchScript's extra
// file, the web page): model, class_names (a JSON list), input_size,
// input ("float32 [N, 3, side, side], RGB planes"), pixel_scaling (inputs
// are pixels / 127.5 - 1, in [-1, 1]: the model does not scale), output,
// catdog_version.
nlohmann::json export_facts(const ExportedModel& exported);

}  // namespace catdog
