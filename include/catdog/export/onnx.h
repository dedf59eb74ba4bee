#pragma once
#include <filesystem>
#include <string>

#include "catdog/export/exported_model.h"

namespace catdog {

// The ONNX opset the exports are written for (see onnx.cpp for why).
inline constexpr int kOnnxOpset = 10;

// The model as a serialized ONNX ModelProto: input "images" float32
// [batch, 3, side, side] (dynamic batch), output "probabilities" float32
// [batch, classes], the weights as initializers, export_facts() as
// metadata_props (class_names as JSON text). onnx::checker passes on it, or
// this throws.
std::string onnx_model_bytes(const ExportedModel& exported);

// onnx_model_bytes written atomically to `file`.
void export_onnx(const ExportedModel& exported, const std::filesystem::path& file);

}  // namespace catdog
