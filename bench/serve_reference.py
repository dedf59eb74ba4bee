#!/usr/bin/python3
"""Flask + PyTorch reference for `catdog serve` (Debian's python3-flask, python3-torch,
python3-opencv): the same POST /api/predict written the usual Python way, for
bench/serve_bench.sh.

  per request (Flask's threads share the model): raw body -> PIL decode + EXIF transpose + RGB, largest face (OpenCV's Haar
  cascade, the settings of src/face.cpp), bilinear resize to 160x160 (torch interpolate),
  x / 127.5 - 1, forward with Grad-CAM on the last conv layer (autograd.grad),
  softmax, the heat map resized to <= 256 px, jet-coloured RGBA PNG, base64, JSON.
  Flask's threaded server, torch.set_num_threads(THREADS). Random weights of the same
  architecture (bench/train_reference.py's classes): the work, not the verdict, is measured.

  /usr/bin/python3 bench/serve_reference.py --model scratch|mobilenetv2 --port 8090 [--threads N]
"""
import argparse
import base64
import io
import math
import os
import queue
import sys

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from flask import Flask, jsonify, request
from PIL import Image, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_reference import FrozenBackbone, Scratch, backbone_and_width  # noqa: E402

CASCADES = ("/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml",
            "/usr/share/opencv4/haarcascades/haarcascade_frontalface_alt2.xml")


def sentence(dog):
    n = min(100, max(0, math.floor(100 * dog + 0.5)))
    return f"This image seems {n}% dog, and {100 - n}% cat."


def largest_face(cascade, rgb):
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    shrink = min(1.0, 1024 / max(gray.shape))
    if shrink < 1:
        gray = cv2.resize(gray, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(gray)
    side = max(24, min(gray.shape) // 12)
    faces = cascade.detectMultiScale(gray, 1.1, 5, cv2.CASCADE_SCALE_IMAGE, (side, side))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    return [int(round(v / shrink)) for v in (x, y, w, h)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("scratch", "mobilenetv2"), default="scratch")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    # Grad-CAM's layer split from the rest, so that concurrent requests (Flask's threads)
    # share the model without hooks or a lock: activations(x) -> A, rest(A) -> logits.
    if args.model == "scratch":
        model = Scratch().eval()

        def activations(x):
            x = F.max_pool2d(F.relu(model.conv1(x)), 2)
            x = F.max_pool2d(F.relu(model.conv2(x)), 2)
            return F.relu(model.conv3(x))

        def rest(a):
            return model.dense2(F.relu(model.dense1(F.max_pool2d(a, 2).flatten(1))))
    else:
        model = FrozenBackbone(*backbone_and_width("mobilenetv2")).eval()

        def activations(x):
            return model.backbone(x)  # ends with the final 1x1 conv block (Keras' Conv_1)

        def rest(a):
            return model.dense2(F.relu(model.dense1(a.mean((2, 3)))))
    cascade_file = next(f for f in CASCADES if os.path.exists(f))
    cascades = queue.SimpleQueue()  # one per concurrent request: not shareable across threads
    app = Flask(__name__)

    @app.post("/api/predict")
    def predict():
        try:
            cascade = cascades.get_nowait()
        except queue.Empty:
            cascade = cv2.CascadeClassifier(cascade_file)
        with Image.open(io.BytesIO(request.get_data())) as image:
            rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB")).copy()
        face = largest_face(cascade, rgb)
        cascades.put(cascade)
        chw = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).float()
        x = F.interpolate(chw, size=(160, 160), mode="bilinear", align_corners=False).round().clamp(0, 255) / 127.5 - 1

        with torch.no_grad():
            a = activations(x)
        a.requires_grad_(True)
        with torch.enable_grad():
            logits = rest(a)
        probabilities = torch.softmax(logits.detach(), 1)[0].tolist()
        label = 1 if probabilities[1] > probabilities[0] else 0
        gradient, = torch.autograd.grad(logits[0, label], a)
        cam = F.relu((gradient.mean((2, 3), keepdim=True) * a.detach()).sum(1))[0]
        peak = cam.max()
        cam = cam / peak if peak > 0 else torch.zeros_like(cam)
        height, width = rgb.shape[:2]
        scale = min(1.0, 256 / max(height, width))
        heat = cv2.resize(cam.numpy(), (max(1, int(width * scale)), max(1, int(height * scale))))
        levels = (heat * 255).astype(np.uint8)
        bgra = cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_JET), cv2.COLOR_BGR2BGRA)
        bgra[:, :, 3] = (heat * 200).astype(np.uint8)
        png = cv2.imencode(".png", bgra)[1].tobytes()
        names = ("cat", "dog")
        return jsonify({"file": "upload", "cat": probabilities[0], "dog": probabilities[1], "label": names[label],
                        "sentence": sentence(probabilities[1]), "image": {"width": width, "height": height},
                        "face": {"found": face is not None, **({"box": face} if face else {})},
                        "classified": "whole", "explained": names[label],
                        "heatmap": base64.b64encode(png).decode(), "heatmap_box": [0, 0, width, height]})

    @app.get("/healthz")
    def healthz():
        return "ok\n"

    app.run(host="127.0.0.1", port=args.port, threaded=True)


if __name__ == "__main__":
    main()
