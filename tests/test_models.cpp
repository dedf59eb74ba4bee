// The three classifiers: sizes as Keras counts them, shapes, freezing,
// initialisation, summary and names.
#include <cmath>

#include <gmock/gmock.h>
#include <torch/torch.h>

#include "catdog/app/output.h"
#include "catdog/base/error.h"
#include "catdog/data/preprocess.h"
#include "catdog/models/classifier.h"
#include "catdog/models/vgg16.h"
#include "test_support.h"

namespace {

using catdog::Classifier;
using catdog::ModelKind;
using ::testing::HasSubstr;

struct Counts {
  int64_t total = 0;      // parameters and BatchNorm statistics, as Keras counts
  int64_t trainable = 0;
};

Counts count(Classifier& model) {
  Counts counts;
  for (const auto& parameter : model->parameters()) {
    counts.total += parameter.numel();
    if (parameter.requires_grad()) counts.trainable += parameter.numel();
  }
  for (const auto& buffer : model->buffers())
    if (buffer.is_floating_point()) counts.total += buffer.numel();
  return counts;
}

int64_t numel(const std::vector<torch::Tensor>& tensors) {
  int64_t total = 0;
  for (const auto& tensor : tensors) total += tensor.numel();
  return total;
}

TEST(Models, ScratchHasKerasParameterCountAllTrainable) {
  Classifier model(ModelKind::Scratch);
  const auto counts = count(model);
  EXPECT_EQ(counts.total, 13132322);
  EXPECT_EQ(counts.trainable, 13132322);
  EXPECT_EQ(numel(model->trainable_parameters()), 13132322);
  EXPECT_FALSE(model->has_frozen_backbone());
}

// Scratch's Dense layer takes (side / 8)^2 x 64 features: its count follows the
// input size; a backbone's pooled features do not. Sizes off the rule are refused.
TEST(Models, ScratchParameterCountFollowsTheInputSize) {
  const int64_t convolutions = (3 * 3 * 3 * 16 + 16) + (3 * 3 * 16 * 32 + 32) + (3 * 3 * 32 * 64 + 64);
  const int64_t dense_1 = 512 * 2 + 2;
  Classifier at_224(ModelKind::Scratch, 2, 224);
  EXPECT_EQ(at_224->image_size(), 224);
  EXPECT_EQ(count(at_224).total, convolutions + ((224 / 8) * (224 / 8) * 64 * 512 + 512) + dense_1);
  EXPECT_EQ(count(at_224).total, 25715234);
  torch::NoGradGuard no_grad;
  EXPECT_EQ(at_224->forward(torch::zeros({1, 3, 224, 224})).sizes(), (std::vector<int64_t>{1, 2}));
  EXPECT_THAT(catdog::app::format_summary(at_224), HasSubstr("(None, 28, 28, 64)"));
  Classifier mobilenet_224(ModelKind::MobileNetV2, 2, 224), mobilenet_160(ModelKind::MobileNetV2);
  EXPECT_EQ(count(mobilenet_224).total, count(mobilenet_160).total);
  for (const int side : {0, 64, 100, 4096})
    EXPECT_THROW(Classifier(ModelKind::Scratch, 2, side), catdog::Error) << side;
}

// One output per class: only the last Dense layer grows, and summary shows it.
TEST(Models, TheHeadHasOneOutputPerClass) {
  for (const int classes : {3, 37}) {
    Classifier model(ModelKind::Scratch, classes);
    EXPECT_EQ(model->num_classes(), classes);
    EXPECT_EQ(count(model).total, 13132322 + (classes - 2) * 513);  // 512 weights and a bias per output
    torch::NoGradGuard no_grad;
    EXPECT_EQ(model->forward(torch::zeros({2, 3, 160, 160})).sizes(), (std::vector<int64_t>{2, classes}));
    EXPECT_THAT(catdog::app::format_summary(model), HasSubstr("(None, " + std::to_string(classes) + ")"));
  }
  EXPECT_THROW(Classifier(ModelKind::Scratch, 1), catdog::Error);
}

TEST(Models, Vgg16HasFrozenBaseAndSmallHead) {
  Classifier model(ModelKind::Vgg16);
  const auto counts = count(model);
  EXPECT_EQ(counts.total, 14978370);
  EXPECT_EQ(counts.trainable, 263682);
  EXPECT_EQ(numel(model->trainable_parameters()), 263682);
  EXPECT_TRUE(model->has_frozen_backbone());
}

TEST(Models, MobileNetV2HasFrozenBaseAndSmallHead) {
  Classifier model(ModelKind::MobileNetV2);
  const auto counts = count(model);
  EXPECT_EQ(counts.total, 2257984 + 656898);
  EXPECT_EQ(counts.trainable, 656898);
  EXPECT_EQ(numel(model->trainable_parameters()), 656898);
}

TEST(Models, OutputsTwoLogitsAndFeaturesOfTheBackboneSize) {
  torch::manual_seed(1);
  const auto images = torch::rand({2, 3, 160, 160}) * 2 - 1;
  const std::vector<std::pair<ModelKind, std::vector<int64_t>>> cases = {
      {ModelKind::Scratch, {2, 3, 160, 160}}, {ModelKind::Vgg16, {2, 512}}, {ModelKind::MobileNetV2, {2, 1280}}};
  for (const auto& [kind, feature_shape] : cases) {
    Classifier model(kind);
    model->eval();
    const auto features = model->features(images);
    EXPECT_EQ(features.sizes(), feature_shape) << catdog::model_name(kind);
    const auto logits = model->classify(features);
    EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 2})) << catdog::model_name(kind);
    EXPECT_TRUE(torch::allclose(logits, model->forward(images), 1e-5, 1e-5)) << catdog::model_name(kind);
  }
}

TEST(Models, FrozenBackboneNeedsNoGradientsAndStaysInEvalMode) {
  for (const auto kind : {ModelKind::Vgg16, ModelKind::MobileNetV2}) {
    Classifier model(kind);
    model->train();
    EXPECT_TRUE(model->is_training());
    for (const auto& item : model->named_parameters()) {
      const bool in_backbone = item.key().rfind("backbone.", 0) == 0;
      EXPECT_EQ(item.value().requires_grad(), !in_backbone) << item.key();
    }
    for (const auto& item : model->named_modules()) {
      const bool in_backbone = item.key().rfind("backbone", 0) == 0;
      EXPECT_EQ(item.value()->is_training(), !in_backbone) << item.key();
    }
    const auto features = model->features(torch::zeros({1, 3, 160, 160}));
    EXPECT_FALSE(features.requires_grad());
  }
}

TEST(Models, TrainableLayersStartWithGlorotUniformKernelsAndZeroBiases) {
  torch::manual_seed(3);
  Classifier model(ModelKind::Scratch);
  for (const auto& item : model->named_parameters()) {
    const auto& value = item.value();
    if (value.dim() == 1) {
      EXPECT_EQ(value.abs().max().item<float>(), 0.0f) << item.key();
      continue;
    }
    const int64_t receptive = value.dim() == 4 ? value.size(2) * value.size(3) : 1;
    const double bound = std::sqrt(6.0 / static_cast<double>((value.size(0) + value.size(1)) * receptive));
    const double largest = value.abs().max().item<double>();
    EXPECT_LE(largest, bound) << item.key();
    EXPECT_GT(largest, 0.9 * bound) << item.key();  // uniform over the whole range
  }
}

TEST(Models, SameSeedGivesTheSameInitialWeights) {
  torch::manual_seed(7);
  Classifier first(ModelKind::MobileNetV2);
  torch::manual_seed(7);
  Classifier second(ModelKind::MobileNetV2);
  const auto a = first->trainable_parameters(), b = second->trainable_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i]));
}

TEST(Models, SummaryListsKerasShapesAndTotals) {
  Classifier scratch(ModelKind::Scratch);
  const auto text = catdog::app::format_summary(scratch);
  EXPECT_THAT(text, HasSubstr("conv2d (Conv2D)"));
  EXPECT_THAT(text, HasSubstr("(None, 160, 160, 16)"));
  EXPECT_THAT(text, HasSubstr("(None, 80, 80, 16)"));
  EXPECT_THAT(text, HasSubstr("(None, 25600)"));
  EXPECT_THAT(text, HasSubstr("Total params: 13,132,322\n"));
  EXPECT_THAT(text, HasSubstr("Trainable params: 13,132,322\n"));
  EXPECT_THAT(text, HasSubstr("Non-trainable params: 0\n"));

  Classifier vgg(ModelKind::Vgg16);
  const auto rows = vgg->summary();
  ASSERT_EQ(rows.size(), 13u + 5u + 1u + 2u);
  EXPECT_EQ(rows.front().name, "block1_conv1 (Conv2D)");
  EXPECT_EQ(rows.front().parameters, 1792);
  EXPECT_EQ(rows.front().trainable_parameters, 0);
  EXPECT_EQ(rows[rows.size() - 3].output_shape, "(None, 512)");
  EXPECT_EQ(rows.back().trainable_parameters, 1026);
  const auto vgg_text = catdog::app::format_summary(vgg);
  EXPECT_THAT(vgg_text, HasSubstr("Total params: 14,978,370\n"));
  EXPECT_THAT(vgg_text, HasSubstr("Trainable params: 263,682\n"));
  EXPECT_THAT(vgg_text, HasSubstr("Non-trainable params: 14,714,688\n"));

  Classifier mobilenet(ModelKind::MobileNetV2);
  const auto mobilenet_text = catdog::app::format_summary(mobilenet);
  EXPECT_THAT(mobilenet_text, HasSubstr("(None, 5, 5, 1280)"));
  EXPECT_THAT(mobilenet_text, HasSubstr("Total params: 2,914,882\n"));
  EXPECT_THAT(mobilenet_text, HasSubstr("Non-trainable params: 2,257,984\n"));
}

TEST(Models, NamesRoundTripAndUnknownNamesAreErrors) {
  for (const auto kind : {ModelKind::Scratch, ModelKind::Vgg16, ModelKind::MobileNetV2})
    EXPECT_EQ(catdog::parse_model_kind(catdog::model_name(kind)), kind);
  try {
    catdog::parse_model_kind("resnet50");
    FAIL() << "no error";
  } catch (const catdog::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("resnet50"));
    EXPECT_THAT(e.what(), HasSubstr("scratch, vgg16 or mobilenetv2"));
  }
  EXPECT_EQ(catdog::testing::error_of([] { catdog::parse_model_kind("VGG16"); }),
            "unknown model 'VGG16': choose scratch, vgg16 or mobilenetv2");
  EXPECT_EQ(catdog::model_names(), (std::vector<std::string>{"scratch", "vgg16", "mobilenetv2"}));
}

TEST(Models, RegistryHoldsTheRecipeAndTheWeightFiles) {
  using catdog::model_spec;
  EXPECT_EQ(model_spec(ModelKind::Scratch).default_epochs, 10);
  EXPECT_EQ(model_spec(ModelKind::Vgg16).default_epochs, 5);
  EXPECT_EQ(model_spec(ModelKind::MobileNetV2).default_epochs, 5);
  EXPECT_EQ(model_spec(ModelKind::Scratch).augmented_epochs, 30);
  EXPECT_EQ(model_spec(ModelKind::MobileNetV2).augmented_epochs, 10);
  EXPECT_EQ(model_spec(ModelKind::Vgg16).keras_weights_file, "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5");
  EXPECT_EQ(model_spec(ModelKind::MobileNetV2).keras_weights_file,
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5");
  EXPECT_EQ(model_spec(ModelKind::Scratch).keras_weights_file, "");
  EXPECT_EQ(model_spec(ModelKind::Scratch).make_backbone, nullptr);
  EXPECT_EQ(model_spec(ModelKind::Vgg16).unfreeze_from.keras_layer, "block5_conv1");
  EXPECT_EQ(model_spec(ModelKind::MobileNetV2).unfreeze_from.keras_index, 100);
  EXPECT_EQ(model_spec(ModelKind::MobileNetV2).unfreeze_from.keras_layer, "block_11_depthwise");

  for (const auto& spec : catdog::model_registry()) {
    EXPECT_EQ(spec.native_image_size.has_value(), spec.make_backbone != nullptr) << spec.name;
    if (!spec.make_backbone) continue;
    EXPECT_GT(spec.weights_bytes, 0) << spec.name;
    EXPECT_THAT(spec.weights_url, testing::EndsWith("/" + spec.keras_weights_file)) << spec.name;
    const auto layers = spec.make_backbone()->keras_layers();
    EXPECT_TRUE(std::any_of(layers.begin(), layers.end(),
                            [&](const auto& layer) { return layer.name == spec.unfreeze_from.keras_layer; }))
        << spec.name;
  }
}

// The library says what is wrong; what to run is the app's to say (AppTrain tests).
TEST(Models, BackboneWeightErrorsNameTheProblem) {
  catdog::testing::TempDir dir;
  Classifier scratch(ModelKind::Scratch);
  try {
    scratch->load_backbone_weights(dir / "any.h5");
    FAIL() << "no error";
  } catch (const catdog::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("scratch model has no pretrained backbone"));
  }
  Classifier vgg(ModelKind::Vgg16);
  try {
    vgg->load_backbone_weights(dir / "missing.h5");
    FAIL() << "no error";
  } catch (const catdog::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("missing.h5 does not exist"));
    EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("scripts/")));
  }
}

TEST(Models, Vgg16KerasLayersMatchTheKerasFile) {
  const auto backbone = catdog::make_vgg16_backbone();
  const auto layers = backbone->keras_layers();
  ASSERT_EQ(layers.size(), 13u);
  EXPECT_EQ(layers.front().name, "block1_conv1");
  EXPECT_EQ(layers.back().name, "block5_conv3");
  EXPECT_EQ(layers.front().weights[0].tensor.sizes(), (std::vector<int64_t>{64, 3, 3, 3}));
  EXPECT_EQ(layers.front().weights[0].layout, catdog::KerasLayout::Conv2DKernel);
  EXPECT_EQ(layers.front().weights[1].layout, catdog::KerasLayout::Vector);
}

}  // namespace

// Keras' counts for the fine-tuning recipes: the TF tutorial's MobileNetV2
// from layer 100 has 1,861,440 trainable backbone weights (its model prints
// 1,862,721 with a 1,281-weight Dense(1) head); VGG16's block 5 is 3 x 2,359,808.
TEST(Models, UnfreezingTrainsTheTopOfTheBackboneAsKerasCountsIt) {
  Classifier mobilenet(ModelKind::MobileNetV2);
  mobilenet->unfreeze_backbone_from(catdog::model_spec(ModelKind::MobileNetV2).unfreeze_from.keras_layer);
  EXPECT_TRUE(mobilenet->backbone_trains());
  EXPECT_THAT(catdog::app::format_summary(mobilenet), HasSubstr("Trainable params: " + std::string("2,518,338") + "\n"));
  int64_t trainable = 0;
  for (const auto& parameter : mobilenet->trainable_parameters()) trainable += parameter.numel();
  EXPECT_EQ(trainable, 1861440 + 656898);
  for (const auto& buffer : mobilenet->buffers()) EXPECT_FALSE(buffer.requires_grad());

  Classifier vgg(ModelKind::Vgg16);
  vgg->unfreeze_backbone_from("block5_conv1");
  EXPECT_THAT(catdog::app::format_summary(vgg), HasSubstr("Trainable params: 7,343,106\n"));

  try {
    vgg->unfreeze_backbone_from("block_11_depthwise");
    FAIL() << "an unknown layer was accepted";
  } catch (const catdog::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("block5_conv3"));
  }
  Classifier scratch(ModelKind::Scratch);
  EXPECT_THROW(scratch->unfreeze_backbone_from("block5_conv1"), catdog::Error);
}
