#!/usr/bin/python3
"""The decoding half of ONNX Runtime's folder pipeline (bench/export_bench.sh FOLDER):
PIL with libjpeg's DCT scaling (Image.draft, as catdog's decoder scales), EXIF turn, RGB,
bilinear resize to SIDE x SIDE, x / 127.5 - 1, CHW float32, on THREADS threads (PIL releases
the GIL while decoding). Writes OUT.f32 and prints the images per second of the decoding.
  onnxruntime_folder_decode.py FOLDER OUT.f32 THREADS [SIDE]"""
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image, ImageOps

folder, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
side = int(sys.argv[4]) if len(sys.argv) > 4 else 160
files = sorted(os.path.join(root, name) for root, _, names in os.walk(folder, followlinks=True) for name in names)


def load(path):
    with Image.open(path) as image:
        image.draft("RGB", (side, side))
        rgb = ImageOps.exif_transpose(image).convert("RGB").resize((side, side), Image.BILINEAR)
    return (np.asarray(rgb, dtype=np.float32) / 127.5 - 1).transpose(2, 0, 1)


start = time.perf_counter()
with ThreadPoolExecutor(threads) as pool:
    tensors = list(pool.map(load, files))
seconds = time.perf_counter() - start
np.stack(tensors).astype("<f4").tofile(out)
print(len(files) / seconds)
