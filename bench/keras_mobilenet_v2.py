#!/usr/bin/python3
"""Keras MobileNetV2 1.0 (include_top=False) in PyTorch, loading a Keras no-top .h5.

The architecture of keras.applications.mobilenet_v2: Conv1 3x3/2 (TF 'same') + BN + ReLU6,
17 inverted-residual blocks (expand 1x1 + BN + ReLU6 except in block 0, depthwise 3x3 + BN +
ReLU6, project 1x1 + BN, residual Add when stride 1 and channels match), Conv_1 1x1 to 1280 +
BN + ReLU6. Convolutions have no bias; BatchNorm eps 1e-3, inference mode. Before every
stride-2 convolution: Keras' correct_pad zero padding, (top, bottom) = (0, 1) on even sizes,
(1, 1) on odd ones, then a 'valid' convolution (= TF 'same').

Weights load the way Keras' load_weights_from_hdf5_group does: the root attribute
`layer_names`, each layer group's `weight_names`; layers whose weight_names is non-empty are
assigned by position to the model's weighted layers (names never compared). Conv kernels
HWIO -> OIHW, depthwise (kh, kw, C, 1) -> (C, 1, kh, kw); BN gamma, beta, moving mean, var.

  /usr/bin/python3 bench/keras_mobilenet_v2.py --check [--weights H5] [--reference JSON]
checks the pooled 1280-d features of testimgs/*_160.png (RGB, x / 127.5 - 1, not resized)
against mobilenet_v2_reference.json: first 8 values within 1e-4 absolute, L2 norm and sum
(aggregates of 1280 float32 values) within 1e-4 relative.
"""
import argparse
import json
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

WEIGHTS_DIR = "/work/shared/weights"
# (expansion t, output channels c, blocks n, first stride s), as in the MobileNetV2 paper / Keras.
BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def correct_pad(x, kernel=3):
    """Keras imagenet_utils.correct_pad as F.pad arguments (left, right, top, bottom)."""
    height, width = x.shape[2], x.shape[3]
    half = kernel // 2
    return F.pad(x, (half - (1 - width % 2), half, half - (1 - height % 2), half))


class ConvBN(nn.Module):
    """Conv (no bias) + BatchNorm(eps 1e-3) [+ ReLU6]; stride 2 pads like Keras."""

    def __init__(self, in_channels, out_channels, kernel, stride=1, depthwise=False, relu6=True):
        super().__init__()
        self.stride, self.relu6 = stride, relu6
        same_padding = kernel // 2 if stride == 1 else 0
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, same_padding, bias=False,
                              groups=in_channels if depthwise else 1)
        self.bn = nn.BatchNorm2d(out_channels, eps=1e-3)

    def forward(self, x):
        if self.stride == 2:
            x = correct_pad(x, self.conv.kernel_size[0])
        x = self.bn(self.conv(x))
        return F.relu6(x) if self.relu6 else x


class InvertedResidual(nn.Module):
    def __init__(self, in_channels, out_channels, expansion, stride):
        super().__init__()
        hidden = in_channels * expansion
        layers = [ConvBN(in_channels, hidden, 1)] if expansion != 1 else []
        layers += [ConvBN(hidden, hidden, 3, stride, depthwise=True), ConvBN(hidden, out_channels, 1, relu6=False)]
        self.layers = nn.Sequential(*layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x):
        return x + self.layers(x) if self.residual else self.layers(x)


class KerasMobileNetV2(nn.Module):
    """Returns the out_relu feature map, N x 1280 x H/32 x W/32 (pool it for the 1280-d feature)."""

    def __init__(self, weights=None):
        super().__init__()
        blocks, channels = [ConvBN(3, 32, 3, stride=2)], 32
        for expansion, out_channels, repeats, stride in BLOCKS:
            for i in range(repeats):
                blocks.append(InvertedResidual(channels, out_channels, expansion, stride if i == 0 else 1))
                channels = out_channels
        blocks.append(ConvBN(channels, 1280, 1))
        self.features = nn.Sequential(*blocks)
        if weights:
            self.load_keras_h5(weights)
        self.eval()

    def forward(self, x):
        return self.features(x)

    def weighted_layers(self):
        """Conv and BN modules in Keras model order (the order Keras assigns h5 weights in)."""
        for module in self.features.modules():
            if isinstance(module, ConvBN):
                yield module.conv
                yield module.bn

    def keras_layer_indices(self):
        """(index in Keras' 154-layer model, Conv or BN module) for the weighted layers.

        Keras' layer list: input, Conv1, bn_Conv1, Conv1_relu, then per block [expand, BN, relu,]
        [pad before a stride-2 depthwise,] depthwise, BN, relu, project, BN [, add], and Conv_1,
        Conv_1_bn, out_relu. (The h5's own `layer_names` come from an older Keras with other
        names and no pad layers, so its positions are not these indices.)
        """
        index = 1  # 0 is the input layer
        for block in self.features:
            conv_bns = [block] if isinstance(block, ConvBN) else list(block.layers)
            for conv_bn in conv_bns:
                if conv_bn.stride == 2 and conv_bn is not self.features[0]:
                    index += 1  # block_N_pad
                yield index, conv_bn.conv
                yield index + 1, conv_bn.bn
                index += 3 if conv_bn.relu6 else 2
            if isinstance(block, InvertedResidual) and block.residual:
                index += 1  # block_N_add

    def unfreeze_from(self, keras_layer):
        """Makes the weights of Keras layers keras_layer onward trainable (BN gamma and beta too;
        running statistics stay frozen: the model stays in eval mode), the rest frozen."""
        for index, layer in self.keras_layer_indices():
            for parameter in layer.parameters():
                parameter.requires_grad_(index >= keras_layer)

    def load_keras_h5(self, path):
        with h5py.File(path, "r") as h5:
            stored = []
            for name in h5.attrs["layer_names"]:
                name = name.decode() if isinstance(name, bytes) else name
                weight_names = h5[name].attrs["weight_names"]  # empty float64 (0,) for weightless layers
                if len(weight_names):
                    stored.append([np.asarray(h5[name][w.decode() if isinstance(w, bytes) else w])
                                   for w in weight_names])
        layers = list(self.weighted_layers())
        if len(stored) != len(layers):
            sys.exit(f"{path}: {len(stored)} weighted layers, MobileNetV2 1.0 no-top has {len(layers)}")
        with torch.no_grad():
            for layer, arrays in zip(layers, stored):
                if isinstance(layer, nn.Conv2d):
                    (kernel,) = arrays
                    # HWIO -> OIHW; depthwise (kh, kw, C, 1) -> (C, 1, kh, kw) is the same permutation
                    # followed by swapping the two leading axes.
                    oihw = torch.from_numpy(kernel).permute(3, 2, 0, 1)
                    if layer.groups > 1:
                        oihw = oihw.transpose(0, 1)
                    layer.weight.copy_(oihw)
                else:
                    gamma, beta, mean, variance = (torch.from_numpy(a) for a in arrays)
                    layer.weight.copy_(gamma)
                    layer.bias.copy_(beta)
                    layer.running_mean.copy_(mean)
                    layer.running_var.copy_(variance)


def check(weights, reference_json):
    from PIL import Image
    torch.set_num_threads(1)  # a check, not a benchmark: leave the other cores alone
    model = KerasMobileNetV2(weights)
    with open(reference_json) as f:
        reference = json.load(f)
    tolerance = reference["suggested_abs_tolerance"]
    ok = True
    for entry in reference["images"]:
        path = os.path.join(os.path.dirname(reference_json), "testimgs", entry["image"])
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
        x = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0) / 127.5 - 1
        with torch.no_grad():
            feature = model(x).mean((2, 3))[0]
        value_diff = (feature[:8] - torch.tensor(entry["first8"])).abs().max().item()
        # L2 norm and sum aggregate 1280 float32 values (sum ~800: one float32 ulp is 6e-5),
        # so they are compared relative to their size.
        norm_diff = abs(feature.norm().item() - entry["l2_norm"]) / entry["l2_norm"]
        sum_diff = abs(feature.sum().item() - entry["sum"]) / abs(entry["sum"])
        good = value_diff <= tolerance and norm_diff <= tolerance and sum_diff <= tolerance
        ok &= good
        print(f"{entry['image']}: first8 max |diff| {value_diff:.1e}, L2 rel diff {norm_diff:.1e}, "
              f"sum rel diff {sum_diff:.1e} {'ok' if good else 'FAILED'}")
    print(f"{'OK' if ok else 'FAILED'} (tolerance {tolerance}: absolute for values, relative for L2 and sum)")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=os.path.join(WEIGHTS_DIR, "mobilenet_v2_1.0_no_top.h5"))
    parser.add_argument("--reference", default=os.path.join(WEIGHTS_DIR, "mobilenet_v2_reference.json"))
    parser.add_argument("--check", action="store_true", help="compare features with the reference JSON")
    args = parser.parse_args()
    if not args.check:
        parser.error("nothing to do: pass --check")
    sys.exit(0 if check(args.weights, args.reference) else 1)


if __name__ == "__main__":
    main()
