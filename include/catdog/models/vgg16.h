#pragma once
#include <memory>

#include "catdog/models/backbone.h"

namespace catdog {

// Keras VGG16(include_top=False) conv base + global average pooling: 512
// features. Thirteen 3x3 ReLU convolutions in five blocks, each block ending
// in a 2x2 max pooling.
std::shared_ptr<BackboneImpl> make_vgg16_backbone();

}  // namespace catdog
