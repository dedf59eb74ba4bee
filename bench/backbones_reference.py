#!/usr/bin/python3
"""Frozen-backbone forward speed, catdog (LibTorch C++) vs PyTorch.

The same architectures in PyTorch: torchvision's mobilenet_v2 and vgg16
conv bases (random weights; speed does not depend on them) + global average
pooling, and the scratch CNN; 160x160 inputs, eval, no_grad, equal threads.
Runs alternate catdog / PyTorch per round; medians of images/s and the ratio.
--weights H5: the PyTorch mobilenetv2 is instead bench/keras_mobilenet_v2.py (Keras' exact
architecture: asymmetric padding, BN eps 1e-3, BN not folded) with that file's ImageNet weights.

  /usr/bin/python3 bench/backbones_reference.py [--binary build/bench/bench_backbones]
      [--models mobilenetv2,vgg16,scratch] [--rounds 5] [--batch 32] [--iterations 3] [--threads N]
      [--weights mobilenet_v2_1.0_no_top.h5] [--reference-channels-last] [--precision fp32|bf16]
      [--reference-frozen] [--catdog-eager]
--precision bf16: catdog with its bf16 autocast, PyTorch inside torch.autocast("cpu", torch.bfloat16).
catdog runs its inference engine (frozen, optimized TorchScript in fp32) unless --catdog-eager;
--reference-frozen: PyTorch's torch.jit.freeze + torch.jit.optimize_for_inference of the reference.
"""
import argparse
import os
import statistics
import subprocess
import time

import torch
import torch.nn as nn
import torchvision


def reference(model, weights=None):
    if model.startswith("mobilenetv2") and weights:
        from keras_mobilenet_v2 import KerasMobileNetV2
        return nn.Sequential(KerasMobileNetV2(weights), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if model.startswith("mobilenetv2"):
        return nn.Sequential(torchvision.models.mobilenet_v2().features, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if model == "vgg16":
        return nn.Sequential(torchvision.models.vgg16().features, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if model == "scratch":
        return nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 20 * 20, 512), nn.ReLU(), nn.Linear(512, 2))
    raise ValueError(model)


def frozen(network):
    return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(network.eval())))


def reference_images_per_second(network, batch, iterations, channels_last, precision):
    images = torch.rand(batch, 3, 160, 160) * 2 - 1
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
        if not isinstance(network, torch.jit.ScriptModule):
            network = network.to(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        network(images)  # warm-up, as the C++ side does
        start = time.perf_counter()
        for _ in range(iterations):
            network(images)
        return batch * iterations / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="build/bench/bench_backbones")
    parser.add_argument("--models", default="mobilenetv2,vgg16,scratch")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--weights", help="mobilenetv2: Keras no-top .h5 for the PyTorch side (see above)")
    parser.add_argument("--reference-channels-last", action="store_true",
                        help="run the PyTorch reference channels-last too (default: its NCHW default)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--reference-frozen", action="store_true",
                        help="PyTorch side as torch.jit.freeze + torch.jit.optimize_for_inference")
    parser.add_argument("--catdog-eager", action="store_true", help="catdog's eager modules, not its engine")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    print(f"threads {args.threads}, batch {args.batch}, {args.iterations} timed forwards per run, "
          f"{args.rounds} rounds; torch {torch.__version__}; PyTorch mobilenetv2: "
          f"{'Keras re-implementation, ' + args.weights if args.weights else 'torchvision, random weights'}"
          f"{', channels_last' if args.reference_channels_last else ''}, precision {args.precision}"
          f"{', PyTorch frozen + optimize_for_inference' if args.reference_frozen else ''}"
          f", catdog {'eager' if args.catdog_eager else 'engine'}")
    print("| model | catdog img/s (median) | PyTorch img/s (median) | catdog / PyTorch | catdog runs | PyTorch runs |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for model in args.models.split(","):
        network = reference(model, args.weights).eval()
        if args.reference_frozen:
            network = frozen(network)
        catdog_runs, reference_runs = [], []
        for _ in range(args.rounds):
            output = subprocess.run([args.binary, model, str(args.batch), str(args.iterations), str(args.threads),
                                     args.precision] + (["eager"] if args.catdog_eager else []),
                                    check=True, capture_output=True, text=True).stdout
            catdog_runs.append(float(output.strip()))
            reference_runs.append(
                reference_images_per_second(network, args.batch, args.iterations, args.reference_channels_last,
                                            args.precision))
        a, b = statistics.median(catdog_runs), statistics.median(reference_runs)
        runs = lambda values: " ".join(f"{v:.1f}" for v in values)
        print(f"| {model} | {a:.1f} | {b:.1f} | {a / b:.2f} | {runs(catdog_runs)} | {runs(reference_runs)} |",
              flush=True)


if __name__ == "__main__":
    main()
