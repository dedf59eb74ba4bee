// `catdog export` (issue 20): the ONNX, TorchScript and web exports of every
// model, run by other runtimes on real photos and compared with `catdog
// predict --json`: OpenCV's DNN module and ONNX Runtime (onnxruntime-node)
// for ONNX, Python's torch.jit.load for TorchScript, headless Chromium for the
// mirror page; and one clear line for bad input.
#include <iostream>
#include <map>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <torch/torch.h>

#include "browser.h"
#include "catdog/data/preprocess.h"
#include "catdog/export/exported_model.h"
#include "catdog/export/onnx.h"
#include "catdog/infer/classify.h"
#include "catdog/models/classifier.h"
#include "catdog/store/checkpoint.h"
#include "random_backbone.h"
#include "square_model.h"
#include "test_support.h"

namespace catdog {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::CommandResult;
using testing::quoted;
using testing::TempDir;

// The issue's bar: another runtime's probabilities within this of catdog's.
constexpr double kTolerance = 1e-4;
constexpr int kPhotosPerClass = 10;
constexpr const char* kPython = "/usr/bin/python3";  // Debian's, with python3-torch
constexpr const char* kNode = "/usr/bin/node";

std::string onnxruntime_package(const std::string& name) {
  return (fs::path(CATDOG_SOURCE_DIR) / ".deps" / "node_modules" / name).string();
}

// The scripts that run an export in another runtime (tests/export_runtimes/).
std::string runner(const std::string& name) {
  return (fs::path(CATDOG_SOURCE_DIR) / "tests" / "export_runtimes" / name).string();
}

// The first 10 cats and 10 dogs of ../shared's dev set, by name.
std::vector<fs::path> dev_photos() {
  std::vector<fs::path> photos;
  for (const char* label : {"cat", "dog"}) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(testing::shared_dir() / "data" / "catdog-dev" / label))
      files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    photos.insert(photos.end(), files.begin(), files.begin() + kPhotosPerClass);
  }
  return photos;
}

// A model whose probabilities vary from photo to photo: scratch the square
// detector (square_model.h); vgg16 He-initialised (its ImageNet weights are
// not available offline; LibTorch's default initialisation fades to nothing
// over 13 layers); mobilenetv2 with its real ImageNet weights. The heads are
// Keras-initialised from a fixed seed.
Classifier make_model(ModelKind kind) {
  if (kind == ModelKind::Scratch) return testing::train_square_detector();
  torch::manual_seed(20);
  Classifier model(kind);
  if (kind == ModelKind::Vgg16) {
    testing::he_initialise_backbone(model);
  } else {
    model->load_backbone_weights(testing::shared_dir() / "weights" / "mobilenet_v2_1.0_no_top.h5");
  }
  model->eval();
  return model;
}

// Per model, made once for every test of this process: a checkpoint, the
// dev photos as catdog preprocesses them (a float32 file), and `catdog
// predict --json`'s probabilities for them.
struct ModelUnderTest {
  fs::path checkpoint;
  fs::path inputs;                             // N x 3 x 160 x 160 float32
  std::vector<std::vector<double>> predicted;  // per photo: cat, dog
};

class Export : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (testing::shared_dir().empty()) GTEST_SKIP() << "needs ../shared (dev photos and MobileNetV2 weights)";
  }

  // Lives as long as the test process: the models below are made once for all of its tests.
  static const fs::path& dir() {
    static const TempDir temp;
    return temp.path();
  }

  static CommandResult catdog(const std::string& arguments) { return testing::run_catdog(arguments); }

  static const ModelUnderTest& model(const std::string& name) {
    static std::map<std::string, ModelUnderTest> made;
    if (made.count(name)) return made[name];
    ModelUnderTest& model = made[name];
    const fs::path folder = dir() / name;
    fs::create_directories(folder);
    model.checkpoint = folder / "best.ckpt";
    CheckpointMeta meta;
    meta.kind = model_spec(name).kind;
    meta.image_size = kDefaultImageSize;
    meta.preprocessing = preprocessing_text(kDefaultImageSize);
    Classifier classifier = make_model(meta.kind);
    save_checkpoint(model.checkpoint, classifier, {}, meta);

    std::vector<torch::Tensor> images;
    std::string files;
    for (const auto& photo : dev_photos()) {
      images.push_back(load_input(photo, kDefaultImageSize));
      files += " " + quoted(photo);
    }
    const auto batch = torch::stack(images).contiguous();
    model.inputs = folder / "inputs.f32";
    std::ofstream(model.inputs, std::ios::binary)
        .write(static_cast<const char*>(batch.data_ptr()), static_cast<std::streamsize>(batch.numel() * sizeof(float)));

    const CommandResult predicted = catdog("predict -q --json --checkpoint " + quoted(model.checkpoint) + files);
    EXPECT_EQ(predicted.code, 0) << predicted.err;
    for (const auto& line : testing::lines_of(predicted.out)) {
      const auto result = json::parse(line);
      model.predicted.push_back({result["cat"].get<double>(), result["dog"].get<double>()});
    }
    EXPECT_EQ(model.predicted.size(), dev_photos().size());
    return model;
  }

  // `catdog export` of the model's checkpoint into `destination`.
  static fs::path exported(const std::string& name, const std::string& format, const std::string& destination) {
    const fs::path file = dir() / name / destination;
    const CommandResult result = catdog("export -q --checkpoint " + quoted(model(name).checkpoint) + " --format " +
                                        format + " -o " + quoted(file));
    EXPECT_EQ(result.code, 0) << result.err;
    EXPECT_EQ(result.out.rfind("wrote " + file.string() + ": " + name + ", classes cat, dog", 0), 0u) << result.out;
    return file;
  }

  static void expect_predicted(const std::string& name, const std::vector<std::vector<double>>& probabilities,
                               const std::string& runtime) {
    const auto& expected = model(name).predicted;
    ASSERT_EQ(probabilities.size(), expected.size()) << runtime;
    double largest = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
      ASSERT_EQ(probabilities[i].size(), 2u) << runtime;
      for (size_t c = 0; c < 2; ++c) {
        EXPECT_NEAR(probabilities[i][c], expected[i][c], kTolerance) << runtime << ", photo " << i << ", class " << c;
        largest = std::max(largest, std::abs(probabilities[i][c] - expected[i][c]));
      }
    }
    // Not a model that says the same for every photo: the comparison means something.
    double lowest = 1, highest = 0;
    for (const auto& p : expected) lowest = std::min(lowest, p[1]), highest = std::max(highest, p[1]);
    EXPECT_GT(highest - lowest, 0.01) << name << "'s probabilities hardly vary";
    std::cout << runtime << " " << name << ": largest difference from catdog predict " << largest << "\n";
  }
};

std::vector<std::vector<double>> probabilities_from(const json& rows) {
  return rows.get<std::vector<std::vector<double>>>();
}

TEST_P(Export, OnnxPassesTheCheckerAndOpenCvDnnGivesPredictsProbabilities) {
  const fs::path file = exported(GetParam(), "onnx", "model.onnx");
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(testing::read_text(file)));
  EXPECT_NO_THROW(onnx::checker::check_model(proto));
  ASSERT_EQ(proto.opset_import_size(), 1);
  EXPECT_EQ(proto.opset_import(0).version(), kOnnxOpset);
  const auto& input = proto.graph().input(0).type().tensor_type().shape();
  ASSERT_EQ(input.dim_size(), 4);
  EXPECT_EQ(input.dim(0).dim_param(), "batch");  // any batch size
  EXPECT_EQ(input.dim(2).dim_value(), kDefaultImageSize);
  std::map<std::string, std::string> metadata;
  for (const auto& property : proto.metadata_props()) metadata[property.key()] = property.value();
  EXPECT_EQ(json::parse(metadata["class_names"]), json({"cat", "dog"}));
  EXPECT_EQ(metadata["input_size"], std::to_string(kDefaultImageSize));
  EXPECT_EQ(metadata["model"], GetParam());
  EXPECT_EQ(metadata["catdog_version"], CATDOG_VERSION);
  EXPECT_NE(metadata["pixel_scaling"].find("[-1, 1]"), std::string::npos) << metadata["pixel_scaling"];

  cv::dnn::Net net = cv::dnn::readNetFromONNX(file.string());
  const std::string bytes = testing::read_text(model(GetParam()).inputs);
  const int count = static_cast<int>(bytes.size() / (3 * kDefaultImageSize * kDefaultImageSize * sizeof(float)));
  const int sizes[] = {count, 3, kDefaultImageSize, kDefaultImageSize};
  net.setInput(cv::Mat(4, sizes, CV_32F, const_cast<char*>(bytes.data())));
  const cv::Mat output = net.forward();
  std::vector<std::vector<double>> probabilities;
  for (int i = 0; i < output.rows; ++i) probabilities.push_back({output.at<float>(i, 0), output.at<float>(i, 1)});
  expect_predicted(GetParam(), probabilities, "OpenCV DNN");
}

TEST_P(Export, OnnxRuntimeGivesPredictsProbabilities) {
  if (!fs::exists(onnxruntime_package("onnxruntime-node")))
    GTEST_SKIP() << "no onnxruntime-node: scripts/install_deps.sh installs it into .deps/";
  const fs::path file = exported(GetParam(), "onnx", "model.onnx");
  const auto& model = this->model(GetParam());
  const CommandResult run = testing::run_program(
      {kNode, runner("onnxruntime_node.js"), onnxruntime_package("onnxruntime-node"), file.string(),
       model.inputs.string(), std::to_string(model.predicted.size()), std::to_string(kDefaultImageSize)});
  ASSERT_EQ(run.code, 0) << run.err;
  const auto answer = json::parse(run.out);
  EXPECT_EQ(answer["input"], "images");
  EXPECT_EQ(answer["output"], "probabilities");
  expect_predicted(GetParam(), probabilities_from(answer["probabilities"]), "ONNX Runtime");
}

TEST_P(Export, PythonsTorchJitLoadRunsTheTorchScript) {
  if (testing::run_program({kPython, "-c", "import torch"}).code != 0)
    GTEST_SKIP() << "no Python torch: scripts/install_deps.sh installs python3-torch";
  const fs::path file = exported(GetParam(), "torchscript", "model.pt");
  const auto& model = this->model(GetParam());
  const CommandResult run =
      testing::run_program({kPython, runner("torchscript.py"), file.string(), model.inputs.string(),
                            std::to_string(model.predicted.size()), std::to_string(kDefaultImageSize)});
  ASSERT_EQ(run.code, 0) << run.err;
  const auto answer = json::parse(run.out);
  EXPECT_EQ(answer["class_names"], json({"cat", "dog"}));
  EXPECT_EQ(answer["input_size"], kDefaultImageSize);
  EXPECT_EQ(answer["facts"]["model"], GetParam());
  expect_predicted(GetParam(), probabilities_from(answer["probabilities"]), "TorchScript (Python)");
}

INSTANTIATE_TEST_SUITE_P(EveryModel, Export, ::testing::Values("scratch", "vgg16", "mobilenetv2"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// A static file server on 127.0.0.1, as any static host would serve the export.
class StaticServer {
 public:
  explicit StaticServer(const fs::path& folder) {
    server_.set_mount_point("/", folder.string());
    server_.set_file_extension_and_mimetype_mapping("mjs", "text/javascript");
    server_.set_file_extension_and_mimetype_mapping("wasm", "application/wasm");
    port_ = server_.bind_to_any_port("127.0.0.1");  // listening from here on: no race with the browser
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~StaticServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

// The mirror page, used as a person would: open it, choose a dev photo, read
// the verdict; the screenshot goes to the build folder (export-web-page.png).
TEST_F(Export, TheWebMirrorShowsTheClisVerdictInChromium) {
  if (!testing::Browser::available()) GTEST_SKIP() << testing::Browser::kMissing;
  if (!fs::exists(onnxruntime_package("onnxruntime-web")))
    GTEST_SKIP() << "no onnxruntime-web: scripts/install_deps.sh installs it into .deps/";
  const fs::path folder = exported("mobilenetv2", "web", "web");
  for (const char* file : {"index.html", "model.onnx", "ort.wasm.min.js", "ort-wasm-simd-threaded.mjs",
                           "ort-wasm-simd-threaded.wasm", "LICENSE-onnxruntime-web"})
    EXPECT_TRUE(fs::is_regular_file(folder / file)) << file;

  StaticServer server(folder);
  testing::Browser browser(dir() / "profile");
  browser.command("POST", "/url", {{"url", server.url() + "index.html"}});
  ASSERT_EQ(browser.wait_for_text("document.body.dataset.ready || ''"), "true")
      << browser.script("return document.getElementById('status').textContent");
  const size_t photo = 12;  // a dog
  browser.choose_file("#file", dev_photos()[photo]);
  const std::string sentence = browser.wait_for_text("document.getElementById('sentence').textContent");
  EXPECT_EQ(sentence, verdict_sentence(model("mobilenetv2").predicted[photo][1]))
      << browser.script("return document.getElementById('status').textContent");
  const auto bars = browser.script(
      "return Array.from(document.querySelectorAll('#classes .name')).map((name) => name.textContent)");
  EXPECT_EQ(bars.size(), 2u) << bars;

  const auto screenshot = fs::path(CATDOG_BINARY).parent_path() / "export-web-page.png";
  std::ofstream(screenshot, std::ios::binary) << browser.screenshot();
  EXPECT_FALSE(cv::imread(screenshot.string()).empty()) << screenshot;
}

// Bad input: a damaged checkpoint, an -o that cannot be written, a format
// catdog does not know: one line saying so, and no file left behind.
TEST_F(Export, BadInputGivesOneClearLine) {
  const fs::path good = model("scratch").checkpoint, damaged = dir() / "damaged.ckpt";
  const std::string bytes = testing::read_text(good);
  std::ofstream(damaged, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  const fs::path in_the_way = dir() / "a-file";
  std::ofstream(in_the_way) << "not a folder";
  const std::vector<std::pair<std::string, int>> cases = {
      {"export --checkpoint " + quoted(damaged) + " --format onnx -o " + quoted(dir() / "x.onnx"), 1},
      {"export --checkpoint " + quoted(good) + " --format onnx -o " + quoted(in_the_way / "x.onnx"), 1},
      {"export --checkpoint " + quoted(good) + " --format torchscript -o " + quoted(in_the_way / "x.pt"), 1},
      {"export --checkpoint " + quoted(good) + " --format web -o " + quoted(in_the_way / "web"), 1},
      {"export --checkpoint " + quoted(good) + " --format tflite -o " + quoted(dir() / "x.tflite"), 2},
      {"export --checkpoint " + quoted(dir() / "missing.ckpt") + " --format onnx", 1}};
  for (const auto& [arguments, code] : cases) {
    const CommandResult result = catdog(arguments);
    EXPECT_EQ(result.code, code) << arguments << ": " << result.err;
    EXPECT_EQ(testing::lines_of(result.err).size(), 1u) << arguments << ": " << result.err;
    EXPECT_EQ(result.err.rfind("catdog: error: ", 0), 0u) << arguments << ": " << result.err;
    EXPECT_EQ(result.out, "") << arguments;
  }
  EXPECT_FALSE(fs::exists(dir() / "x.onnx"));
  EXPECT_FALSE(fs::exists(dir() / "x.tflite"));
  testing::ChildOptions without_runtime;
  without_runtime.environment = {"CATDOG_ONNXRUNTIME_WEB=" + (dir() / "nowhere").string()};
  const CommandResult no_runtime = testing::run_catdog(
      "export --checkpoint " + quoted(good) + " --format web -o " + quoted(dir() / "web-without-runtime"),
      without_runtime);
  EXPECT_EQ(no_runtime.code, 1);
  EXPECT_NE(no_runtime.err.find("scripts/install_deps.sh"), std::string::npos) << no_runtime.err;
}

// Without -o the export goes beside the checkpoint, named after it.
TEST_F(Export, WritesBesideTheCheckpointByDefault) {
  const fs::path checkpoint = model("scratch").checkpoint;
  for (const auto& [format, name] : std::vector<std::pair<std::string, std::string>>{{"onnx", "best.onnx"},
                                                                                     {"torchscript", "best.pt"}}) {
    const CommandResult result = catdog("export -q --checkpoint " + quoted(checkpoint.parent_path()) + " --format " + format);
    EXPECT_EQ(result.code, 0) << result.err;
    EXPECT_TRUE(fs::is_regular_file(checkpoint.parent_path() / name)) << format;
  }
}

// Class names travel with the model, in their order.
TEST(ExportLibrary, KeepsTheCheckpointsClassNamesInOrder) {
  torch::manual_seed(4);
  Checkpoint checkpoint;
  checkpoint.model = Classifier(ModelKind::Scratch);
  checkpoint.model->eval();
  checkpoint.meta.class_names = {"puppy", "kitten"};
  const ExportedModel exported = prepare_export(checkpoint);
  EXPECT_EQ(exported.class_names, (std::vector<std::string>{"puppy", "kitten"}));
  onnx::ModelProto model;
  ASSERT_TRUE(model.ParseFromString(onnx_model_bytes(exported)));
  std::map<std::string, std::string> metadata;
  for (const auto& property : model.metadata_props()) metadata[property.key()] = property.value();
  EXPECT_EQ(metadata["class_names"], R"(["puppy","kitten"])");

  checkpoint.meta.class_names = {"cat", "dog", "fox"};
  EXPECT_NE(testing::error_of([&] { prepare_export(checkpoint); }).find("3 classes but its model has 2 outputs"),
            std::string::npos);
}

// The graph computes the model's probabilities (the self-check every export
// runs), MobileNetV2's residuals and Keras padding included.
TEST(ExportLibrary, TheGraphComputesTheModelsProbabilities) {
  torch::manual_seed(5);
  Classifier model(ModelKind::MobileNetV2);
  {
    torch::NoGradGuard no_grad;
    for (auto& buffer : model->named_buffers()) {
      if (buffer.key().find("running_var") != std::string::npos) buffer.value().uniform_(0.5, 2.0);
      if (buffer.key().find("running_mean") != std::string::npos) buffer.value().uniform_(-0.2, 0.2);
    }
    model->weights_changed();
  }
  model->eval();
  const InferenceGraph graph = lower_classifier(model, kDefaultImageSize);
  EXPECT_EQ(graph.classes, 2);
  int adds = 0;
  for (const auto& op : graph.ops) adds += op.kind == GraphOpKind::Add;
  EXPECT_EQ(adds, 10);  // MobileNetV2's blocks with a residual
  const auto images = torch::rand({3, 3, kDefaultImageSize, kDefaultImageSize}) * 2 - 1;
  torch::NoGradGuard no_grad;
  EXPECT_LT((run_inference_graph(graph, images) - torch::softmax(model->forward(images), 1)).abs().max().item<double>(),
            kTolerance);
}

// A model trained at 96 px exports at 96 px: the checkpoint's size, in the
// graph, the ONNX input and the facts, and the graph computes its probabilities.
TEST(ExportLibrary, ExportsAtTheCheckpointsImageSize) {
  torch::manual_seed(6);
  Checkpoint checkpoint;
  checkpoint.meta.image_size = 96;
  checkpoint.model = Classifier(ModelKind::Scratch, 2, 96);
  checkpoint.model->eval();
  const ExportedModel exported = prepare_export(checkpoint);
  EXPECT_EQ(exported.graph.input_size, 96);
  EXPECT_EQ(exported.preprocessing, "RGB, bilinear resize to 96x96, x / 127.5 - 1");
  EXPECT_EQ(export_facts(exported)["input_size"], 96);
  onnx::ModelProto model;
  ASSERT_TRUE(model.ParseFromString(onnx_model_bytes(exported)));
  const auto& input = model.graph().input(0).type().tensor_type().shape();
  EXPECT_EQ(input.dim(2).dim_value(), 96);
  EXPECT_EQ(input.dim(3).dim_value(), 96);
  const auto images = torch::rand({2, 3, 96, 96}) * 2 - 1;
  torch::NoGradGuard no_grad;
  EXPECT_LT((run_inference_graph(exported.graph, images) - torch::softmax(checkpoint.model->forward(images), 1))
                .abs()
                .max()
                .item<double>(),
            kTolerance);
}

}  // namespace
}  // namespace catdog
