#include "catdog/export/onnx.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include "catdog/base/atomic_file.h"
#include "catdog/base/error.h"

namespace catdog {

// Opset 10: the newest in which Clip (MobileNetV2's ReLU6) takes its bounds
// as attributes. Opset 11 made them inputs, and OpenCV 4.6's DNN module
// (Debian 12's) refuses Clip with inputs; every other operator the graphs use
// (Conv, Relu, MaxPool, GlobalAveragePool, Flatten, Gemm, Add, Softmax over
// [N, classes]) means the same in 10 as in later opsets. ONNX Runtime (web
// included) and every other runtime in use read opset 10. IR version 5 is
// the one that came with it.

namespace {

constexpr int64_t kIrVersion = 5;
constexpr const char* kInput = "images";
constexpr const char* kOutput = "probabilities";

void add_attribute(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& values) {
  auto* attribute = node.add_attribute();
  attribute->set_name(name);
  attribute->set_type(onnx::AttributeProto::INTS);
  for (const auto value : values) attribute->add_ints(value);
}

void add_attribute(onnx::NodeProto& node, const std::string& name, float value) {
  auto* attribute = node.add_attribute();
  attribute->set_name(name);
  attribute->set_type(onnx::AttributeProto::FLOAT);
  attribute->set_f(value);
}

void add_attribute(onnx::NodeProto& node, const std::string& name, int64_t value) {
  auto* attribute = node.add_attribute();
  attribute->set_name(name);
  attribute->set_type(onnx::AttributeProto::INT);
  attribute->set_i(value);
}

// A float32 initializer (raw little-endian bytes, as ONNX stores them).
std::string add_initializer(onnx::GraphProto& graph, const std::string& name, const torch::Tensor& tensor) {
  const auto values = tensor.to(torch::kFloat32).contiguous();
  auto* initializer = graph.add_initializer();
  initializer->set_name(name);
  initializer->set_data_type(onnx::TensorProto::FLOAT);
  for (const auto size : values.sizes()) initializer->add_dims(size);
  initializer->set_raw_data(values.data_ptr(), static_cast<size_t>(values.numel()) * sizeof(float));
  return name;
}

void set_float_tensor_type(onnx::ValueInfoProto& value, const std::vector<int64_t>& sizes) {
  auto* type = value.mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = type->mutable_shape();
  shape->add_dim()->set_dim_param("batch");
  for (const auto size : sizes) shape->add_dim()->set_dim_value(size);
}

onnx::NodeProto& add_node(onnx::GraphProto& graph, const std::string& type, const std::string& name,
                          const std::vector<std::string>& inputs, const std::string& output) {
  auto* node = graph.add_node();
  node->set_op_type(type);
  node->set_name(name);
  for (const auto& input : inputs) node->add_input(input);
  node->add_output(output);
  return *node;
}

}  // namespace

std::string onnx_model_bytes(const ExportedModel& exported) {
  const auto& network = exported.graph;
  onnx::ModelProto model;
  model.set_ir_version(kIrVersion);
  model.set_producer_name("catdog");
  model.set_producer_version(exported.catdog_version);
  const auto facts = export_facts(exported);
  model.set_doc_string("catdog " + exported.model + " classifier: " + facts["pixel_scaling"].get<std::string>());
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  for (const auto& [key, value] : facts.items()) {
    auto* property = model.add_metadata_props();
    property->set_key(key);
    property->set_value(value.is_string() ? value.get<std::string>() : value.dump());
  }

  auto& graph = *model.mutable_graph();
  graph.set_name("catdog_" + exported.model);
  set_float_tensor_type(*graph.add_input(), {3, network.input_size, network.input_size});
  graph.mutable_input(0)->set_name(kInput);
  set_float_tensor_type(*graph.add_output(), {network.classes});
  graph.mutable_output(0)->set_name(kOutput);

  std::vector<std::string> values = {kInput};
  for (size_t i = 0; i < network.ops.size(); ++i) {
    const auto& op = network.ops[i];
    const std::string output = i + 1 == network.ops.size() ? kOutput : "v" + std::to_string(i + 1);
    const auto input = [&](size_t k) { return values[static_cast<size_t>(op.inputs[k])]; };
    switch (op.kind) {
      case GraphOpKind::Conv: {
        auto& node = add_node(graph, "Conv", op.name,
                              {input(0), add_initializer(graph, op.name + ".weight", op.weight),
                               add_initializer(graph, op.name + ".bias", op.bias)},
                              output);
        add_attribute(node, "kernel_shape", {op.weight.size(2), op.weight.size(3)});
        add_attribute(node, "strides", {op.stride, op.stride});
        add_attribute(node, "pads", {op.pads[0], op.pads[1], op.pads[2], op.pads[3]});
        add_attribute(node, "group", op.groups);
        break;
      }
      case GraphOpKind::Relu: add_node(graph, "Relu", op.name, {input(0)}, output); break;
      case GraphOpKind::Relu6: {
        auto& node = add_node(graph, "Clip", op.name, {input(0)}, output);
        add_attribute(node, "min", 0.0f);
        add_attribute(node, "max", 6.0f);
        break;
      }
      case GraphOpKind::MaxPool2x2: {
        auto& node = add_node(graph, "MaxPool", op.name, {input(0)}, output);
        add_attribute(node, "kernel_shape", {2, 2});
        add_attribute(node, "strides", {2, 2});
        break;
      }
      case GraphOpKind::GlobalAveragePool:  // ONNX keeps the 1 x 1 spatial axes: flatten them away
        add_node(graph, "GlobalAveragePool", op.name, {input(0)}, output + "_pooled");
        add_attribute(add_node(graph, "Flatten", op.name + "_flatten", {output + "_pooled"}, output), "axis", int64_t{1});
        break;
      case GraphOpKind::Flatten: add_attribute(add_node(graph, "Flatten", op.name, {input(0)}, output), "axis", int64_t{1}); break;
      case GraphOpKind::Dense:
        add_attribute(add_node(graph, "Gemm", op.name,
                               {input(0), add_initializer(graph, op.name + ".weight", op.weight),
                                add_initializer(graph, op.name + ".bias", op.bias)},
                               output),
                      "transB", int64_t{1});
        break;
      case GraphOpKind::Add: add_node(graph, "Add", op.name, {input(0), input(1)}, output); break;
      case GraphOpKind::Softmax: add_attribute(add_node(graph, "Softmax", op.name, {input(0)}, output), "axis", int64_t{1}); break;
    }
    values.push_back(output);
  }

  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw Error("export: the ONNX model fails onnx::checker (a catdog bug: please report it): " +
                std::string(e.what()));
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) throw Error("export: the ONNX model cannot be serialized (over 2 GB?)");
  return bytes;
}

void export_onnx(const ExportedModel& exported, const std::filesystem::path& file) {
  write_file_atomically(file, onnx_model_bytes(exported));
}

}  // namespace catdog
