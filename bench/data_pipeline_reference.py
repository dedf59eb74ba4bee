"""Data pipeline throughput of the usual PyTorch recipe, the reference for
bench_data_pipeline: torchvision ImageFolder + Resize((160, 160)) (bilinear) +
ToTensor + Normalize(0.5, 0.5) + DataLoader(batch 32, shuffled, num_workers =
threads), torch.set_num_threads(threads). It has no cache, so every epoch
decodes. Prints images/s per epoch as one line of JSON.
    /usr/bin/python3 bench/data_pipeline_reference.py DIR THREADS [EPOCHS]
"""
import json
import sys
import time

import torch
from torchvision import datasets, transforms


def main():
    root, threads = sys.argv[1], int(sys.argv[2])
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    torch.set_num_threads(threads)
    transform = transforms.Compose([
        transforms.Resize((160, 160), interpolation=transforms.InterpolationMode.BILINEAR),
        transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ])
    dataset = datasets.ImageFolder(root, transform=transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=True, num_workers=threads,
                                         generator=torch.Generator().manual_seed(1))
    rates, checksum = [], 0.0
    for _ in range(epochs):
        start, images = time.perf_counter(), 0
        for batch, _labels in loader:
            images += batch.shape[0]
            checksum += float(batch[0, 0, 0, 0])
        rates.append(images / (time.perf_counter() - start))
    print(json.dumps({"images": len(dataset), "epoch_img_s": rates, "checksum": checksum}))


if __name__ == "__main__":
    main()
