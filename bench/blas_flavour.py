"""Which libblas.so.3 should LibTorch use here? Times one scratch-CNN training
step (batch 32, 160x160) with LibTorch's BLAS-backed layers, at a given thread
count. Run once per BLAS via LD_LIBRARY_PATH (see bench/blas_flavour.sh)."""
import statistics
import sys
import time

import torch
import torch.nn as nn

threads = int(sys.argv[1])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(64 * 20 * 20, 512), nn.ReLU(), nn.Linear(512, 2))
opt = torch.optim.RMSprop(model.parameters(), lr=1e-4, alpha=0.9, eps=1e-7)
x = torch.rand(32, 3, 160, 160) * 2 - 1
y = torch.randint(0, 2, (32,))
times = []
for step in range(12):
    start = time.perf_counter()
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    if step >= 2:
        times.append(time.perf_counter() - start)
print(f"{statistics.median(times) * 1000:.1f}")
