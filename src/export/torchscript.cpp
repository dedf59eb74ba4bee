#include "catdog/export/torchscript.h"

#include <sstream>

#include <torch/script.h>

#include "catdog/base/atomic_file.h"

namespace catdog {

void export_torchscript(const ExportedModel& exported, const std::filesystem::path& file) {
  torch::jit::Module module = script_module(exported.graph);
  const auto facts = export_facts(exported);
  module.register_attribute("class_names", c10::ListType::ofStrings(), c10::List<std::string>(exported.class_names));
  module.register_attribute("input_size", c10::IntType::get(), exported.graph.input_size);
  module.register_attribute("pixel_scaling", c10::StringType::get(), facts["pixel_scaling"].get<std::string>());
  std::ostringstream archive;
  module.save(archive, {{kTorchScriptFactsFile, facts.dump(2)}});
  write_file_atomically(file, archive.str());
}

}  // namespace catdog
