#include "catdog/export/torchscript.h"

#include <cctype>
#include <sstream>

#include <torch/script.h>

#include "catdog/base/atomic_file.h"
#include "catdog/base/error.h"

namespace catdog {

namespace {

// An attribute name for a Keras layer name ("block_3_depthwise" stays).
std::string identifier(const std::string& name) {
  std::string text = name;
  for (auto& c : text)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return std::isdigit(static_cast<unsigned char>(text.front())) ? "_" + text : text;
}

std::string int_list(std::initializer_list<int64_t> values) {
  std::string text = "[";
  for (const auto value : values) text += (text.size() > 1 ? ", " : "") + std::to_string(value);
  return text + "]";
}

}  // namespace

void export_torchscript(const ExportedModel& exported, const std::filesystem::path& file) {
  torch::jit::Module module("CatdogClassifier");
  std::ostringstream forward;
  forward << "def forward(self, images):\n";
  std::vector<std::string> values = {"images"};
  for (size_t i = 0; i < exported.graph.ops.size(); ++i) {
    const auto& op = exported.graph.ops[i];
    const auto input = [&](size_t k) { return values[static_cast<size_t>(op.inputs[k])]; };
    const auto parameter = [&](const std::string& part, const torch::Tensor& tensor) {
      const std::string name = identifier(op.name) + "_" + part;
      module.register_parameter(name, tensor, /*requires_grad=*/false);
      return "self." + name;
    };
    const std::string value = "v" + std::to_string(i + 1);
    forward << "    " << value << " = ";
    switch (op.kind) {
      case GraphOpKind::Conv: {
        const bool symmetric = op.pads[0] == op.pads[2] && op.pads[1] == op.pads[3];
        const std::string padded =
            symmetric ? input(0)
                      : "torch.constant_pad_nd(" + input(0) + ", " +
                            int_list({op.pads[1], op.pads[3], op.pads[0], op.pads[2]}) + ", 0.0)";
        forward << "torch.conv2d(" << padded << ", " << parameter("weight", op.weight) << ", "
                << parameter("bias", op.bias) << ", " << int_list({op.stride, op.stride}) << ", "
                << (symmetric ? int_list({op.pads[0], op.pads[1]}) : int_list({0, 0})) << ", [1, 1], " << op.groups
                << ")";
        break;
      }
      case GraphOpKind::Relu: forward << "torch.relu(" << input(0) << ")"; break;
      case GraphOpKind::Relu6: forward << "torch.clamp(" << input(0) << ", 0.0, 6.0)"; break;
      case GraphOpKind::MaxPool2x2:
        forward << "torch.max_pool2d(" << input(0) << ", [2, 2], [2, 2], [0, 0], [1, 1], False)";
        break;
      case GraphOpKind::GlobalAveragePool: forward << "torch.mean(" << input(0) << ", [2, 3])"; break;
      case GraphOpKind::Flatten: forward << "torch.flatten(" << input(0) << ", 1)"; break;
      case GraphOpKind::Dense:
        forward << "torch.addmm(" << parameter("bias", op.bias) << ", " << input(0) << ", "
                << parameter("weight", op.weight) << ".t())";
        break;
      case GraphOpKind::Add: forward << input(0) << " + " << input(1); break;
      case GraphOpKind::Softmax: forward << "torch.softmax(" << input(0) << ", 1)"; break;
    }
    forward << "\n";
    values.push_back(value);
  }
  forward << "    return " << values.back() << "\n";

  const auto facts = export_facts(exported);
  module.register_attribute("class_names", c10::ListType::ofStrings(), c10::List<std::string>(exported.class_names));
  module.register_attribute("input_size", c10::IntType::get(), exported.graph.input_size);
  module.register_attribute("pixel_scaling", c10::StringType::get(), facts["pixel_scaling"].get<std::string>());
  try {
    module.define(forward.str());
  } catch (const c10::Error& e) {
    throw Error("export: the TorchScript forward does not compile (a catdog bug: please report it): " +
                std::string(e.what_without_backtrace()));
  }
  module.eval();
  std::ostringstream archive;
  module.save(archive, {{kTorchScriptFactsFile, facts.dump(2)}});
  write_file_atomically(file, archive.str());
}

}  // namespace catdog
