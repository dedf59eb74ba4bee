#!/usr/bin/python3
"""PyTorch reference for `catdog predict` (Debian torch 1.13): the same work in the usual
Python way, for bench/predict_bench.sh.

  process start, import torch (+ torchvision for mobilenetv2), build the model (scratch, or
  torchvision mobilenet_v2 features + Dense512-Dense2: bench/train_reference.py's classes)
  and load its saved weights, then per image: PIL decode + EXIF transpose + RGB, bilinear
  resize to 160x160 (torch interpolate), x / 127.5 - 1, forward, softmax, and print
  "This image seems N% dog, and M% cat." (prefixed with the file name for several).
  Folders are walked for image files; several images go through a DataLoader with
  num_workers = threads in batches of 32, as catdog decodes on all cores.

  /usr/bin/python3 bench/predict_reference.py --model scratch --weights W.pt --export
      writes random weights (what matters is the work, not the verdict)
  /usr/bin/python3 bench/predict_reference.py --model scratch --weights W.pt [--threads N] IMAGE|DIR...
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_reference import FrozenBackbone, Scratch, backbone_and_width  # noqa: E402

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def sentence(dog):
    n = min(100, max(0, math.floor(100 * dog + 0.5)))
    return f"This image seems {n}% dog, and {100 - n}% cat."


def load(path):
    with Image.open(path) as image:
        rgb = ImageOps.exif_transpose(image).convert("RGB")
        chw = torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1).unsqueeze(0).float()
    resized = F.interpolate(chw, size=(160, 160), mode="bilinear", align_corners=False)[0]
    return resized.round().clamp(0, 255) / 127.5 - 1


class Files(torch.utils.data.Dataset):
    def __init__(self, files):
        self.files = files

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return load(self.files[i])


def expand(inputs):
    files = []
    for item in inputs:
        if os.path.isdir(item):
            for folder, _, names in os.walk(item):
                files += [os.path.join(folder, n) for n in names if n.lower().endswith(EXTENSIONS)]
        else:
            files.append(item)
    return sorted(files) if len(inputs) > 1 or os.path.isdir(inputs[0]) else files


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("scratch", "mobilenetv2"), default="scratch")
    parser.add_argument("--weights", required=True)
    parser.add_argument("--export", action="store_true")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("inputs", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = Scratch() if args.model == "scratch" else FrozenBackbone(*backbone_and_width("mobilenetv2"))
    if args.export:
        torch.save(model.state_dict(), args.weights)
        return
    model.load_state_dict(torch.load(args.weights))
    model.eval()

    files = expand(args.inputs)
    start = time.perf_counter()
    with torch.no_grad():
        if len(files) == 1 and not os.path.isdir(args.inputs[0]):
            dog = torch.softmax(model(load(files[0]).unsqueeze(0)), 1)[0, 1].item()
            print(sentence(dog))
            return
        loader = torch.utils.data.DataLoader(Files(files), batch_size=32, num_workers=args.threads)
        done = 0
        for batch in loader:
            for dog in torch.softmax(model(batch), 1)[:, 1].tolist():
                print(f"{files[done]}: {sentence(dog)}")
                done += 1
    print(f"{done} images in {time.perf_counter() - start:.2f} s: {done / (time.perf_counter() - start):.1f} images/s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
