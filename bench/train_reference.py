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

Any folder of classes, as catdog reads it (dataset.h): one class per sub-folder, names sorted,
Dense2 becomes DenseN. The split is catdog's (split.h): samples sorted by relative path,
Fisher-Yates from the back with mt19937_64(seed), j = rng() % (i + 1), cut at round(0.8 n) and
round(0.9 n) of the whole for cat/dog, of each class in that order for every other dataset.
Preprocessing: PIL decode (libjpeg, like OpenCV) + EXIF transpose + RGB, then a bilinear
resize to 160x160 (--image-size N: NxN) without antialiasing (torch interpolate, align_corners=False: OpenCV
INTER_LINEAR's sampling grid; OpenCV rounds in 8-bit fixed point, so pixels may differ by 1),
x / 127.5 - 1. Images are decoded once and kept in memory (like catdog's memory cache).

--device cuda runs it on the GPU (images decoded on the CPU as above, then kept on the GPU);
--precision auto runs the frozen backbone and evaluation under fp16 autocast there, as catdog's
--precision auto does on CUDA (training of the trainable layers stays fp32 in both).

Beyond the tutorial's recipe (bench/RESULTS-finetune.md; the spec is catdog's --augment,
--fine-tune, --schedule, --label-smoothing, --patience and --tta):
  --augment    per image and epoch, on the training images only: random resized crop (area
               U[0.6, 1], aspect log-uniform in [3/4, 4/3], centre uniform where the crop fits),
               rotation U[-15, 15] degrees about the crop centre, horizontal flip p 0.5, as ONE
               affine warp (torch grid_sample, bilinear, reflect-101 outside the source) from the
               192x192 decode to 160x160 (1.2 N to N); then brightness, contrast (about the image's mean grey)
               and saturation (about each pixel's grey), each factor U[0.8, 1.2], clamped to
               [0, 255]. The draws come from torch's generator seeded by --seed (the same
               distributions as catdog, not the same draws).
  --fine-tune  mobilenetv2 with --weights: stage 1 trains the head on the frozen backbone for
               --epochs (default 10); stage 2 makes the backbone's weights from Keras layer
               --fine-tune-at (default 100, block_11_expand_relu: block_11_depthwise onward, BN
               gamma and beta included) trainable and trains them with the head for
               --fine-tune-epochs (default 10) at lr / 10, with a fresh RMSprop (Keras recompiles).
               BatchNorm stays in inference mode with its running statistics frozen.
  --schedule cosine: per step, a linear warm-up over the first epoch, then cosine decay to 0
               over the rest of each stage. --label-smoothing X: on the training loss only
               (val_loss and test loss are plain cross-entropy, comparable across variants).
  --patience N: a stage stops after N epochs without a lower val_loss, and its best-val_loss
               weights are restored (without it the model after the last epoch is kept).
  --tta        the test split is scored also with the mean of the softmax of each image and its
               horizontal flip.

Prints one line per epoch (loss, accuracy, val_loss, val_accuracy, seconds, train img/s)
and the final test accuracy with its standard error sqrt(p (1 - p) / n); --json FILE writes
the same as JSON.
"""
import argparse
import contextlib
import copy
import json
import math
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


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def scan(root):
    """catdog's dataset.h: one class per non-hidden sub-folder, names sorted; a cat/dog pair
    (cat, cats, dog, dogs in any case) is named cat and dog. Returns (class names, samples
    sorted by relative path)."""
    folders = sorted(n for n in os.listdir(root) if not n.startswith(".") and os.path.isdir(os.path.join(root, n)))
    if len(folders) < 2:
        sys.exit(f"{root}: a classifier needs two or more class folders")
    kinds = [("cat" if n.lower() in ("cat", "cats") else "dog" if n.lower() in ("dog", "dogs") else None)
             for n in folders]
    cats_vs_dogs = len(folders) == 2 and sorted(filter(None, kinds)) == ["cat", "dog"]
    names = kinds if cats_vs_dogs else folders
    class_names = sorted(names)
    samples = []
    for folder, name in zip(folders, names):
        for file in os.listdir(os.path.join(root, folder)):
            if file.lower().endswith(IMAGE_SUFFIXES):
                samples.append((f"{folder}/{file}", class_names.index(name)))
    samples.sort()
    return class_names, samples


def split(samples, seed, stratified):
    """split.h: one shuffle of everything; the first 80% / 10% / 10% in that order of the
    whole (cats_vs_dogs) or of each class (stratified, every other dataset)."""
    order = shuffled_indices(len(samples), seed)
    group = (lambda label: label) if stratified else (lambda label: 0)
    sizes, placed = {}, {}
    for _, label in samples:
        sizes[group(label)] = sizes.get(group(label), 0) + 1
    parts = ([], [], [])
    for k in order:
        g = group(samples[k][1])
        n, i = sizes[g], placed.get(g, 0)
        # C++ llround: halves away from zero (Python's round() goes to even).
        cut1, cut2 = int(np.floor(0.8 * n + 0.5)), int(np.floor(0.9 * n + 0.5))
        parts[0 if i < cut1 else 1 if i < cut2 else 2].append(samples[k])
        placed[g] = i + 1
    return parts


def load_images(root, samples, size=160):
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
        resized = F.interpolate(chw, size=(size, size), mode="bilinear", align_corners=False)
        images.append(resized.round().clamp(0, 255).to(torch.uint8)[0])
        labels.append(label)
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64)


def to_input(uint8_batch):
    return uint8_batch.float() / 127.5 - 1


def grey(rgb):
    return 0.299 * rgb[:, 0:1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:3]


def augment(uint8_batch, generator, out_size=160):
    """The spec's augmentation of N x 3 x S x S uint8 decodes: N x 3 x out x out network input."""
    n, source = len(uint8_batch), uint8_batch.shape[-1]

    def uniform(low, high):
        return low + (high - low) * torch.rand(n, generator=generator)

    area = uniform(0.6, 1.0)
    aspect = uniform(math.log(3 / 4), math.log(4 / 3)).exp()
    width = (source * (area * aspect).sqrt()).clamp(max=source)
    height = (source * (area / aspect).sqrt()).clamp(max=source)
    centre_x = width / 2 + uniform(0, 1) * (source - width)
    centre_y = height / 2 + uniform(0, 1) * (source - height)
    angle = uniform(-15, 15) * (math.pi / 180)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    # Output pixel centres as fractions of the crop, -0.5..0.5; the crop scaled, rotated about its
    # centre and placed gives source coordinates with pixel edges at 0 and S.
    steps = (torch.arange(out_size) + 0.5) / out_size - 0.5
    dx = (flip * width).view(n, 1, 1) * steps.view(1, 1, out_size)
    dy = height.view(n, 1, 1) * steps.view(1, out_size, 1)
    cos, sin = angle.cos().view(n, 1, 1), angle.sin().view(n, 1, 1)
    x = centre_x.view(n, 1, 1) + cos * dx - sin * dy
    y = centre_y.view(n, 1, 1) + sin * dx + cos * dy
    # Pixel centres at k + 0.5; align_corners=True puts -1 and 1 on the centres of the border
    # pixels, where 'reflection' mirrors: reflect-101.
    grid = torch.stack(((x - 0.5) * (2 / (source - 1)) - 1, (y - 0.5) * (2 / (source - 1)) - 1), -1)
    rgb = F.grid_sample(uint8_batch.float(), grid, mode="bilinear", padding_mode="reflection", align_corners=True)

    def factor():
        return uniform(0.8, 1.2).view(n, 1, 1, 1)

    rgb = (rgb * factor()).clamp(0, 255)
    mean_grey = grey(rgb).mean((2, 3), keepdim=True)
    rgb = (mean_grey + factor() * (rgb - mean_grey)).clamp(0, 255)
    pixel_grey = grey(rgb)
    rgb = (pixel_grey + factor() * (rgb - pixel_grey)).clamp(0, 255)
    return rgb / 127.5 - 1


class Scratch(nn.Module):
    def __init__(self, classes=2, side=160):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.dense1 = nn.Linear((side // 8) ** 2 * 64, 512)
        self.dense2 = nn.Linear(512, classes)
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
    """Backbone (frozen unless unfreeze_from says otherwise) + global average pooling + head."""

    def __init__(self, backbone, features, classes=2, precision="fp32"):
        super().__init__()
        self.precision = precision
        self.backbone = backbone.eval()
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.dense1 = nn.Linear(features, 512)
        self.dense2 = nn.Linear(512, classes)
        for layer in (self.dense1, self.dense2):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def train(self, mode=True):
        super().train(mode)
        self.backbone.eval()  # frozen or fine-tuned: BatchNorm stays in inference mode
        return self

    def unfreeze_from(self, keras_layer):
        self.backbone.unfreeze_from(keras_layer)

    def forward(self, x):
        if any(p.requires_grad for p in self.backbone.parameters()):
            # Fine-tuning: autograd records only from the first trainable weight on, so the
            # frozen layers cost no more than under no_grad; training stays fp32.
            features = self.backbone(x).mean((2, 3))
        else:
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
def evaluate(model, images, labels, precision="fp32", batch_size=128, tta=False):
    """Mean cross-entropy and accuracy; tta: of the mean softmax of each image and its flip."""
    model.eval()
    loss_sum, correct = 0.0, 0
    for start in range(0, len(labels), batch_size):
        x = to_input(images[start:start + batch_size])
        with inference_autocast(images.device, precision):
            probabilities = model(x).float().softmax(1)
            if tta:
                probabilities = (probabilities + model(x.flip(3)).float().softmax(1)) / 2
        target = labels[start:start + batch_size]
        loss_sum += F.nll_loss(probabilities.log(), target, reduction="sum").item()
        correct += (probabilities.argmax(1) == target).sum().item()
    return loss_sum / len(labels), correct / len(labels)


def standard_error(accuracy, n):
    return math.sqrt(accuracy * (1 - accuracy) / n)


def score_test(model, test_x, test_y, tta, name, precision="fp32"):
    """The test split's loss, accuracy and standard error, plain and (tta) with flip TTA."""
    scores = {}
    for flip in (False, True) if tta else (False,):
        key = name + ("_tta" if flip else "")
        loss, accuracy = evaluate(model, test_x, test_y, tta=flip)
        error = standard_error(accuracy, len(test_y))
        print(f"{key}: loss {loss:.4f} accuracy {accuracy:.4f} +- {error:.4f}", flush=True)
        scores.update({f"{key}_loss": loss, f"{key}_accuracy": accuracy, f"{key}_standard_error": error})
    return scores


def learning_rate(base, schedule, step, steps_per_epoch, total_steps):
    """constant, or cosine: linear warm-up over the first epoch's steps, then cosine decay to 0."""
    if schedule == "constant":
        return base
    if step < steps_per_epoch:
        return base * (step + 1) / steps_per_epoch
    return base * 0.5 * (1 + math.cos(math.pi * (step - steps_per_epoch) / max(1, total_steps - steps_per_epoch)))


def train_stage(model, optimizer, data, args, stage, epochs, base_lr, generator, history):
    """Trains for up to `epochs` epochs, appending one record per epoch to history."""
    train_x, train_y, val_x, val_y = data
    steps_per_epoch = math.ceil(len(train_y) / args.batch_size)
    best_loss, best_state, stale = math.inf, None, 0
    step = 0
    device = train_y.device
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(train_y), generator=generator).to(device)
        loss_sum, correct = 0.0, 0
        for begin in range(0, len(order), args.batch_size):
            index = order[begin:begin + args.batch_size]
            target = train_y[index]
            x = augment(train_x[index], generator, args.image_size) if args.augment else to_input(train_x[index])
            optimizer.lr = learning_rate(base_lr, args.schedule, step, steps_per_epoch, epochs * steps_per_epoch)
            step += 1
            optimizer.zero_grad()
            logits = model(x)
            loss = F.cross_entropy(logits, target, label_smoothing=args.label_smoothing)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(index)
            correct += (logits.argmax(1) == target).sum().item()
        train_seconds = time.perf_counter() - start  # loss.item() above waits for the GPU
        val_loss, val_accuracy = evaluate(model, val_x, val_y, args.precision)
        seconds = time.perf_counter() - start
        record = dict(stage=stage, epoch=epoch, loss=loss_sum / len(train_y), accuracy=correct / len(train_y),
                      val_loss=val_loss, val_accuracy=val_accuracy, seconds=seconds,
                      train_images_per_second=len(train_y) / train_seconds)
        history.append(record)
        line = ("epoch {epoch}/{n} - loss {loss:.4f} - accuracy {accuracy:.4f} - val_loss {val_loss:.4f} - "
                "val_accuracy {val_accuracy:.4f} - {seconds:.1f}s - {train_images_per_second:.1f} img/s")
        print(("stage {stage} " + line if args.fine_tune else line).format(n=epochs, **record), flush=True)
        if not args.patience:
            continue
        if val_loss < best_loss:
            best_loss, best_state, stale = val_loss, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= args.patience:
                print(f"stage {stage}: no lower val_loss for {stale} epochs, stopping", flush=True)
                break
    if best_state is not None:
        model.load_state_dict(best_state)
        print(f"stage {stage}: restored the weights with the lowest val_loss {best_loss:.4f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", choices=("scratch", "mobilenetv2", "vgg16"), default="scratch")
    parser.add_argument("--epochs", type=int, default=0,
                        help="default: scratch 10, mobilenetv2 and vgg16 5, --fine-tune's stage 1 10")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--split-seed", type=int, default=20260101)
    parser.add_argument("--weights", help="mobilenetv2: Keras no-top .h5 with the real ImageNet weights "
                                          "(default: torchvision's architecture with random weights)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N training images")
    parser.add_argument("--augment", action="store_true", help="augment the training images (see above)")
    parser.add_argument("--fine-tune", action="store_true", help="stage 2: fine-tune the top of the backbone")
    parser.add_argument("--fine-tune-epochs", type=int, default=10)
    parser.add_argument("--fine-tune-at", type=int, default=100, help="first trainable Keras layer of stage 2")
    parser.add_argument("--schedule", choices=("constant", "cosine"), default="constant")
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--patience", type=int, default=0, help="early stopping on val_loss (0: off)")
    parser.add_argument("--image-size", type=int, default=160,
                        help="input side (catdog's --image-size); augmentation decodes at round(1.2 x) of it")
    parser.add_argument("--tta", action="store_true", help="score the test split with flip TTA too")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--precision", choices=("fp32", "auto"), default="fp32",
                        help="auto: frozen backbone and evaluation under fp16 autocast on CUDA")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    if args.weights and args.model != "mobilenetv2":
        parser.error("--weights is for --model mobilenetv2")
    if args.fine_tune and not args.weights:
        parser.error("--fine-tune needs --model mobilenetv2 --weights (the Keras layer numbering)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    epochs = args.epochs or (10 if args.model == "scratch" or args.fine_tune else 5)

    class_names, samples = scan(args.data)
    train, validation, test = split(samples, args.split_seed, stratified=class_names != ["cat", "dog"])
    print(f"classes: {', '.join(class_names)}", flush=True)
    if args.limit:
        train = train[:args.limit]
    print(f"train {len(train)}, validation {len(validation)}, test {len(test)}", flush=True)
    start = time.perf_counter()
    # Augmented crops come from a slightly larger decode, as in catdog's cache.
    side = args.image_size
    train_x, train_y = load_images(args.data, train, size=int(math.floor(side * 1.2 + 0.5)) if args.augment else side)
    val_x, val_y = load_images(args.data, validation, size=side)
    test_x, test_y = load_images(args.data, test, size=side)
    decode_seconds = time.perf_counter() - start
    print(f"decoded in {decode_seconds:.1f}s", flush=True)
    device = torch.device(args.device)
    train_x, train_y, val_x, val_y, test_x, test_y = (t.to(device) for t in (train_x, train_y, val_x, val_y, test_x, test_y))

    classes = len(class_names)
    model = Scratch(classes, args.image_size) if args.model == "scratch" else FrozenBackbone(
        *backbone_and_width(args.model, args.weights), classes=classes, precision=args.precision)
    model.to(device)
    generator = torch.Generator().manual_seed(args.seed)  # shuffles and augmentation draws
    data = (train_x, train_y, val_x, val_y)
    history = []
    results = dict(model=args.model, class_names=class_names, weights=args.weights, threads=args.threads, device=args.device,
                   precision=args.precision, options=vars(args),
                   decode_seconds=decode_seconds, history=history)
    train_stage(model, KerasRMSprop(model.parameters(), args.lr), data, args, 1, epochs, args.lr, generator, history)
    if args.fine_tune:
        # Stage 1 alone is the frozen recipe (with --augment: frozen + augmentation); its test
        # score is reported, never used to choose anything.
        results.update(score_test(model, test_x, test_y, args.tta, "stage1_test", args.precision))
        model.unfreeze_from(args.fine_tune_at)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        print(f"stage 2: Keras layers {args.fine_tune_at}+ trainable, {trainable} trainable parameters", flush=True)
        fine_tune_lr = args.lr / 10
        train_stage(model, KerasRMSprop(model.parameters(), fine_tune_lr), data, args, 2, args.fine_tune_epochs,
                    fine_tune_lr, generator, history)
    results["train_seconds"] = train_seconds = sum(record["seconds"] for record in history)
    results.update(score_test(model, test_x, test_y, args.tta, "test", args.precision))
    print(f"train seconds (all epochs, validation included): {train_seconds:.1f}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
