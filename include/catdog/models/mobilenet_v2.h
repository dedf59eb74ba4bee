#pragma once
#include <array>
#include <memory>

#include "catdog/models/backbone.h"

namespace catdog {

// Keras MobileNetV2 1.0 (include_top=False) + global average pooling: 1280
// features. ReLU6, depthwise convolutions, BatchNorm eps 1e-3 in inference
// mode, and Keras' asymmetric zero padding (top/left 0, bottom/right 1 on
// even sizes) before every stride-2 depthwise convolution.
// `fold_batchnorm`: after weights_changed(), run the convolutions with
// BatchNorm folded in (same numbers, fewer passes over memory).
std::shared_ptr<BackboneImpl> make_mobilenet_v2_backbone(bool fold_batchnorm = true);

// Keras' imagenet_utils.correct_pad, applied before a stride-2 'valid'
// convolution of kernel size `kernel` on N x C x H x W: (top, bottom) =
// (0, 1) on even H, (1, 1) on odd H, likewise for W. Equals TF's 'same'.
torch::Tensor pad_like_keras(const torch::Tensor& x, int64_t kernel);
// The zeros pad_like_keras adds to an H x W input: top, left, bottom, right.
std::array<int64_t, 4> keras_pads(int64_t height, int64_t width, int64_t kernel);

}  // namespace catdog
