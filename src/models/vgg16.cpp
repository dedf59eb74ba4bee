#include "catdog/models/vgg16.h"

#include <torch/torch.h>

namespace catdog {

namespace {

namespace nn = torch::nn;

class Vgg16BackboneImpl : public BackboneImpl {
 public:
  Vgg16BackboneImpl() {
    const std::vector<std::vector<int64_t>> blocks = {
        {64, 64}, {128, 128}, {256, 256, 256}, {512, 512, 512}, {512, 512, 512}};
    int64_t channels = 3;
    for (size_t block = 0; block < blocks.size(); ++block) {
      const std::string prefix = "block" + std::to_string(block + 1);
      for (size_t conv = 0; conv < blocks[block].size(); ++conv) {
        const std::string name = prefix + "_conv" + std::to_string(conv + 1);
        convs_.push_back(
            layers_->add(name, "Conv2D", same_conv3x3(channels, blocks[block][conv]), Activation::Relu));
        names_.push_back(name);
        channels = blocks[block][conv];
      }
      layers_->add(prefix + "_pool", "MaxPooling2D", nn::MaxPool2d(2));
    }
    layers_->add("global_average_pooling2d", "GlobalAveragePooling2D", global_average_pooling());
  }

  torch::Tensor forward(const torch::Tensor& images) override { return layers_->forward(images); }
  torch::Tensor forward_tapped(const torch::Tensor& images, const std::string& layer, const LayerTap& tap) override {
    return layers_->forward_tapped(images, layer, tap);
  }
  int64_t feature_size() const override { return 512; }

  std::vector<KerasLayerTarget> keras_layers() override {
    std::vector<KerasLayerTarget> targets;
    for (size_t i = 0; i < convs_.size(); ++i)
      targets.push_back({names_[i],
                         {{convs_[i]->weight, KerasLayout::Conv2DKernel}, {convs_[i]->bias, KerasLayout::Vector}}});
    return targets;
  }

  std::vector<LayerSummary> summarize(torch::Tensor& images) override { return layers_->summarize(images); }

 private:
  LayerStack layers_ = register_module("layers", LayerStack());
  std::vector<nn::Conv2d> convs_;
  std::vector<std::string> names_;
};

}  // namespace

std::shared_ptr<BackboneImpl> make_vgg16_backbone() { return std::make_shared<Vgg16BackboneImpl>(); }

}  // namespace catdog
