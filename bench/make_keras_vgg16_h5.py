#!/usr/bin/python3
"""Writes a VGG16 no-top weight file in the layout of Keras' official
`vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5` (the 2016 release, written by h5py 2).

THESE ARE NOT IMAGENET WEIGHTS. The values are torchvision.models.vgg16()'s random
initialisation (seeded), converted OIHW -> HWIO. The file exists only to time the vgg16 recipe
and to exercise catdog's Keras-h5 import path end to end, because the real ImageNet file
cannot be downloaded on this machine. Never use it to judge accuracy.

Layout (what catdog's src/keras_h5.cpp reads):
  root attribute layer_names = input_1, block1_conv1, block1_conv2, block1_pool, ..., block5_pool
  one group per layer; its attribute weight_names lists the datasets stored directly in that
  group: <layer>_W_1:0 (kernel, HWIO (3, 3, in, out)) and <layer>_b_1:0 (bias, (out,)).
  Weightless layers (input, pooling) have an empty float64 weight_names, as Keras wrote them.
  Strings are fixed-length byte strings (numpy dtype S), as h5py 2 wrote them.

Usage: /usr/bin/python3 bench/make_keras_vgg16_h5.py OUT.h5 [--seed N]
"""
import argparse

import h5py
import numpy as np
import torch
import torchvision

BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    convs = iter(m for m in torchvision.models.vgg16().features if isinstance(m, torch.nn.Conv2d))

    layer_names = ["input_1"]
    with h5py.File(args.out, "w") as h5:
        h5.create_group("input_1").attrs["weight_names"] = np.array([], dtype=np.float64)
        for block, widths in enumerate(BLOCKS, start=1):
            for index, _ in enumerate(widths, start=1):
                name = f"block{block}_conv{index}"
                conv = next(convs)
                group = h5.create_group(name)
                kernel, bias = f"{name}_W_1:0", f"{name}_b_1:0"
                group.attrs["weight_names"] = np.array([kernel.encode(), bias.encode()])
                group.create_dataset(kernel, data=conv.weight.detach().permute(2, 3, 1, 0).numpy())  # OIHW -> HWIO
                group.create_dataset(bias, data=conv.bias.detach().numpy())
                layer_names.append(name)
            pool = f"block{block}_pool"
            h5.create_group(pool).attrs["weight_names"] = np.array([], dtype=np.float64)
            layer_names.append(pool)
        h5.attrs["layer_names"] = np.array([n.encode() for n in layer_names])
    print(f"wrote {args.out}: {len(layer_names)} layers, random (NOT ImageNet) VGG16 weights, seed {args.seed}")


if __name__ == "__main__":
    main()
