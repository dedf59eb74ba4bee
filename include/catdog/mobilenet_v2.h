#pragma once
#include <memory>

#include "catdog/models.h"

namespace catdog {

// Keras MobileNetV2 1.0 (include_top=False) + global average pooling: 1280
// features. ReLU6, depthwise convolutions, BatchNorm eps 1e-3 in inference
// mode, and Keras' asymmetric zero padding (top/left 0, bottom/right 1 on
// even sizes) before every stride-2 depthwise convolution.
// `fold_batchnorm`: after weights_changed(), run the convolutions with
// BatchNorm folded in (same numbers, fewer passes over memory).
std::shared_ptr<BackboneImpl> make_mobilenet_v2_backbone(bool fold_batchnorm = true);

}  // namespace catdog
