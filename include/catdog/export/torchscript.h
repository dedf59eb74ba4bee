#pragma once
#include <filesystem>

#include "catdog/export/exported_model.h"

namespace catdog {

// The name of the extra file in every TorchScript export holding
// export_facts() as JSON (Python: torch.jit.load(path, _extra_files={name: ""})).
inline constexpr const char* kTorchScriptFactsFile = "catdog.json";

// A TorchScript archive that Python's torch.jit.load(file)(images) runs
// without catdog: a module whose forward is TorchScript source compiled here,
// over the graph's weights (images [N, 3, side, side] scaled to [-1, 1] ->
// probabilities [N, classes]). Attributes class_names, input_size and
// pixel_scaling, and export_facts() in its extra file. Written atomically.
void export_torchscript(const ExportedModel& exported, const std::filesystem::path& file);

}  // namespace catdog
