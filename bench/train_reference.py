#!/usr/bin/python3
"""PyTorch reference for `catdog train` (Debian torch 1.13): the same recipe in plain PyTorch.

  scratch:     Conv16-Pool-Conv32-Pool-Conv64-Pool-Flatten-Dense512-Dense2 (Keras init:
               xavier_uniform_ weights, zero biases), RMSprop with Keras semantics
               (v = rho v + (1-rho) g^2, p -= lr g / sqrt(v + eps), rho 0.9, eps 1e-7, by hand:
               torch.optim.RMSprop puts eps outside the sqrt), lr 1e-4, batch 32,
               cross-entropy on logits, a fresh shuffle every epoch, 10 epochs.
  mobilenetv2: torchvision mobilenet_v2().features (random weights: same FLOPs as the real
               backbone) frozen in eval mode + global average pooling + Dense512-Dense2,
               the naive loop: the backbone runs on every batch of every epoch, 5 epochs.
               --weights H5: the backbone is Keras' MobileNetV2 1.0 no-top with that file's
               ImageNet weights instead (bench/keras_mobilenet_v2.py: Keras padding, BN eps
               1e-3, weights assigned by position like Keras), the same model as catdog's.
  vgg16:       torchvision vgg16().features (the 13-conv base, random weights: the same FLOPs
               as Keras' VGG16 no-top) + global average pooling + Dense512-Dense2, the same
               naive loop as mobilenetv2, 5 epochs.

The split is catdog's (split.h): samples sorted by relative path, Fisher-Yates from the back
with mt19937_64(seed), j = rng() % (i + 1), cut at round(0.8 n) and round(0.9 n).
Preprocessing: PIL decode (libjpeg, like OpenCV) + EXIF transpose + RGB, then a bilinear
resize to 160x160 without antialiasing (torch interpolate, align_corners=False: OpenCV
INTER_LINEAR's sampling grid; OpenCV rounds in 8-bit fixed point, so pixels may differ by 1),
x / 127.5 - 1. Images are decoded once and kept in memory (like catdog's memory cache).

--device cuda runs it on the GPU (images decoded on the CPU as above, then kept on the GPU);
--precision auto runs the frozen backbone and evaluation under fp16 autocast there, as catdog's
--precision auto does on CUDA (training of the trainable layers stays fp32 in both).

Prints one line per epoch (loss, accuracy, val_loss, val_accuracy, seconds, train img/s)
and the final test accuracy; --json FILE writes the same as JSON.
"""
import argparse
import contextlib
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, ImageOps

MASK64 = (1 << 64) - 1


class MT19937_64:
    """std::mt19937_64 in pure Python (numpy's MT19937 is the 32-bit one)."""

    def __init__(self, seed):
        self.mt = [0] * 312
        self.mt[0] = seed & MASK64
        for i in range(1, 312):
            self.mt[i] = (6364136223846793005 * (self.mt[i - 1] ^ (self.mt[i - 1] >> 62)) + i) & MASK64
        self.index = 312

    def _twist(self):
        mt = self.mt
        for i in range(312):
            x = (mt[i] & 0xFFFFFFFF80000000) | (mt[(i + 1) % 312] & 0x7FFFFFFF)
            xa = x >> 1
            if x & 1:
                xa ^= 0xB5026F5AA96619E9
            mt[i] = mt[(i + 156) % 312] ^ xa
        self.index = 0

    def __call__(self):
        if self.index >= 312:
            self._twist()
        y = self.mt[self.index]
        self.index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        return y & MASK64


def shuffled_indices(n, seed):
    order = list(range(n))
    rng = MT19937_64(seed)
    for i in range(n - 1, 0, -1):
        j = rng() % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def scan(root):
    samples = []
    for label, names in ((0, ("cat", "cats", "Cat", "Cats")), (1, ("dog", "dogs", "Dog", "Dogs"))):
        folder = next((n for n in names if os.path.isdir(os.path.join(root, n))), None)
        if folder is None:
            sys.exit(f"{root}: no cat/dog folder")
        for name in os.listdir(os.path.join(root, folder)):
            if name.lower().endswith((".jpg", ".jpeg", ".png", ".bmp")):
                samples.append((f"{folder}/{name}", label))
    samples.sort()
    return samples


def split(samples, seed):
    order = shuffled_indices(len(samples), seed)
    n = len(samples)
    # C++ llround: halves away from zero (Python's round() goes to even).
    cut1, cut2 = int(np.floor(0.8 * n + 0.5)), int(np.floor(0.9 * n + 0.5))
    ordered = [samples[k] for k in order]
    return ordered[:cut1], ordered[cut1:cut2], ordered[cut2:]


def load_images(root, samples):
    images, labels = [], []
    for path, label in samples:
        try:
            with Image.open(os.path.join(root, path)) as image:
                rgb = ImageOps.exif_transpose(image).convert("RGB")
                array = torch.from_numpy(np.asarray(rgb).copy())
        except Exception as error:  # catdog leaves undecodable files out too
            print(f"skipping {path}: {error}", file=sys.stderr)
            continue
        chw = array.permute(2, 0, 1).unsqueeze(0).float()
        resized = F.interpolate(chw, size=(160, 160), mode="bilinear", align_corners=False)
        images.append(resized.round().clamp(0, 255).to(torch.uint8)[0])
        labels.append(label)
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64)


def to_input(uint8_batch):
    return uint8_batch.float() / 127.5 - 1


class Scratch(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.dense1 = nn.Linear(20 * 20 * 64, 512)
        self.dense2 = nn.Linear(512, 2)
        for layer in (self.conv1, self.conv2, self.conv3, self.dense1, self.dense2):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        return self.dense2(F.relu(self.dense1(x.flatten(1))))


def backbone_and_width(model, weights=None):
    """The frozen base and its feature width. Random torchvision weights: same FLOPs as the real ones."""
    import torchvision
    if model == "vgg16":  # the 13-conv base, the same FLOPs as Keras' VGG16 no-top
        return torchvision.models.vgg16().features, 512
    if weights:
        from keras_mobilenet_v2 import KerasMobileNetV2
        return KerasMobileNetV2(weights), 1280
    return torchvision.models.mobilenet_v2().features, 1280


def inference_autocast(device, precision):
    """catdog's --precision for work without gradients: auto is fp16 autocast on CUDA, fp32 elsewhere."""
    if precision == "auto" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


class FrozenBackbone(nn.Module):
    def __init__(self, backbone, features, precision="fp32"):
        super().__init__()
        self.precision = precision
        self.backbone = backbone.eval()
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.dense1 = nn.Linear(features, 512)
        self.dense2 = nn.Linear(512, 2)
        for layer in (self.dense1, self.dense2):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def train(self, mode=True):
        super().train(mode)
        self.backbone.eval()  # frozen: BatchNorm stays in inference mode
        return self

    def forward(self, x):
        with torch.no_grad(), inference_autocast(x.device, self.precision):
            features = self.backbone(x).mean((2, 3)).float()
        return self.dense2(F.relu(self.dense1(features)))


class KerasRMSprop:
    def __init__(self, params, lr, rho=0.9, eps=1e-7):
        self.params = [p for p in params if p.requires_grad]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.lr, self.rho, self.eps = lr, rho, eps

    @torch.no_grad()
    def step(self):
        for p, v in zip(self.params, self.v):
            if p.grad is None:
                continue
            v.mul_(self.rho).addcmul_(p.grad, p.grad, value=1 - self.rho)
            p.addcdiv_(p.grad, (v + self.eps).sqrt_(), value=-self.lr)

    def zero_grad(self):
        for p in self.params:
            p.grad = None


@torch.no_grad()
def evaluate(model, images, labels, precision="fp32", batch_size=128):
    model.eval()
    loss_sum, correct = 0.0, 0
    for start in range(0, len(labels), batch_size):
        with inference_autocast(images.device, precision):
            logits = model(to_input(images[start:start + batch_size])).float()
        target = labels[start:start + batch_size]
        loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
        correct += (logits.argmax(1) == target).sum().item()
    return loss_sum / len(labels), correct / len(labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", choices=("scratch", "mobilenetv2", "vgg16"), default="scratch")
    parser.add_argument("--epochs", type=int, default=0, help="default: scratch 10, mobilenetv2 and vgg16 5")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--split-seed", type=int, default=20260101)
    parser.add_argument("--weights", help="mobilenetv2: Keras no-top .h5 with the real ImageNet weights "
                                          "(default: torchvision's architecture with random weights)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N training images")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--precision", choices=("fp32", "auto"), default="fp32",
                        help="auto: frozen backbone and evaluation under fp16 autocast on CUDA")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    epochs = args.epochs or (10 if args.model == "scratch" else 5)

    samples = scan(args.data)
    train, validation, test = split(samples, args.split_seed)
    if args.limit:
        train = train[:args.limit]
    print(f"train {len(train)}, validation {len(validation)}, test {len(test)}", flush=True)
    start = time.perf_counter()
    train_x, train_y = load_images(args.data, train)
    val_x, val_y = load_images(args.data, validation)
    test_x, test_y = load_images(args.data, test)
    decode_seconds = time.perf_counter() - start
    print(f"decoded in {decode_seconds:.1f}s", flush=True)
    device = torch.device(args.device)
    train_x, train_y, val_x, val_y, test_x, test_y = (t.to(device) for t in (train_x, train_y, val_x, val_y, test_x, test_y))

    if args.weights and args.model != "mobilenetv2":
        parser.error("--weights is for --model mobilenetv2")
    model = Scratch() if args.model == "scratch" else FrozenBackbone(*backbone_and_width(args.model, args.weights),
                                                                     precision=args.precision)
    model.to(device)
    optimizer = KerasRMSprop(model.parameters(), args.lr)
    generator = torch.Generator().manual_seed(args.seed)
    history = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(train_y), generator=generator).to(device)
        loss_sum, correct = 0.0, 0
        for begin in range(0, len(order), args.batch_size):
            index = order[begin:begin + args.batch_size]
            target = train_y[index]
            optimizer.zero_grad()
            logits = model(to_input(train_x[index]))
            loss = F.cross_entropy(logits, target)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(index)
            correct += (logits.argmax(1) == target).sum().item()
        train_seconds = time.perf_counter() - start  # loss.item() above waits for the GPU
        val_loss, val_accuracy = evaluate(model, val_x, val_y, args.precision)
        seconds = time.perf_counter() - start
        record = dict(epoch=epoch, loss=loss_sum / len(train_y), accuracy=correct / len(train_y), val_loss=val_loss,
                      val_accuracy=val_accuracy, seconds=seconds, train_images_per_second=len(train_y) / train_seconds)
        history.append(record)
        print("epoch {epoch}/{n} - loss {loss:.4f} - accuracy {accuracy:.4f} - val_loss {val_loss:.4f} - "
              "val_accuracy {val_accuracy:.4f} - {seconds:.1f}s - {train_images_per_second:.1f} img/s"
              .format(n=epochs, **record), flush=True)
    test_loss, test_accuracy = evaluate(model, test_x, test_y, args.precision)
    print(f"test: loss {test_loss:.4f} accuracy {test_accuracy:.4f}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(dict(model=args.model, weights=args.weights, threads=args.threads, device=args.device,
                           precision=args.precision, decode_seconds=decode_seconds, history=history,
                           test_loss=test_loss, test_accuracy=test_accuracy), out, indent=2)


if __name__ == "__main__":
    main()
