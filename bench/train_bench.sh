#!/bin/bash
# Training speed: catdog vs the PyTorch reference (bench/train_reference.py), same data,
# same thread count, alternating A and B.
#   1. scratch throughput: ROUNDS x (catdog 2 epochs, reference 2 epochs); the second
#      epoch's train images / epoch seconds (train + validation, caches warm) per run,
#      medians and the ratio, and the fraction of the CPU's peak FLOP/s it reaches.
#   2. the frozen-backbone recipe (mobilenetv2, 5 epochs) wall time: catdog (features
#      computed once, real ImageNet weights) vs the reference's naive loop (backbone on
#      every batch of every epoch, torchvision mobilenet_v2 with random weights: same FLOPs).
#      RECIPE=0 skips it (bench/train_accuracy.sh times it with the real weights on both sides).
# CATDOG_ARGS: more `catdog train` flags (e.g. "--precision bf16").
# usage: bench/train_bench.sh [DATA] [THREADS] [ROUNDS]   (run from the repository root,
#        after building: cmake --build build --target catdog)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DATA=${1:-/work/shared/data/catdog-dev}
THREADS=${2:-$(nproc)}
ROUNDS=${3:-3}
WEIGHTS=${WEIGHTS:-/work/shared/weights/mobilenet_v2_1.0_no_top.h5}
OUT=$(mktemp -d /tmp/catdog-train-bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

echo "data $DATA, threads $THREADS, rounds $ROUNDS, $(lscpu | sed -n 's/^Model name: *//p')"
for round in $(seq "$ROUNDS"); do
  "$CATDOG" train -q --model scratch --epochs 2 --threads "$THREADS" --data "$DATA" --out "$OUT/c$round" \
      ${CATDOG_ARGS:-} >/dev/null
  $PY -c "import json; h=json.load(open('$OUT/c$round/history.json')); print(h[1]['seconds'])" >> "$OUT/catdog.s"
  $PY bench/train_reference.py --model scratch --epochs 2 --threads "$THREADS" --data "$DATA" \
      --json "$OUT/r$round.json" >/dev/null
  $PY -c "import json; h=json.load(open('$OUT/r$round.json'))['history']; print(h[1]['seconds'])" >> "$OUT/reference.s"
  echo "round $round: catdog $(tail -1 "$OUT/catdog.s") s/epoch, reference $(tail -1 "$OUT/reference.s") s/epoch"
done
TRAIN=$($PY -c "
import sys; sys.path.insert(0, 'bench'); import train_reference as r
print(len(r.split(r.scan('$DATA'), 20260101)[0]))")
CATDOG_S=$(median < "$OUT/catdog.s"); REF_S=$(median < "$OUT/reference.s")
# FLOPs per training image: forward MACs x 2 (FLOPs) x 3 (forward + two backward products).
# scratch forward MACs: conv 160x160x16x27 + 80x80x32x144 + 40x40x64x288 + dense 25600x512 + 512x2.
MACS=$((160*160*16*27 + 80*80*32*144 + 40*40*64*288 + 25600*512 + 512*2))
# The hardware's limit, measured: a 4096^2 fp32 matmul in PyTorch at the same thread count.
PEAK=$($PY -c "
import time, torch; torch.set_num_threads($THREADS); a = torch.randn(4096, 4096); b = torch.randn(4096, 4096)
a @ b; t = time.perf_counter(); [a @ b for _ in range(5)]; print(5 * 2 * 4096**3 / (time.perf_counter() - t) / 1e9)")
# And the cores' FMA limit (bench/fma_peak.cpp), when built.
FMA=$( (build/bench/bench_fma_peak "$THREADS" 2>/dev/null || true) | awk '/^fp32/ {print $3}')
$PY - <<PY
train, catdog_s, ref_s, macs, peak, fma = $TRAIN, $CATDOG_S, $REF_S, $MACS, $PEAK, float("${FMA:-0}")
flops = 6 * macs
for name, s in (("catdog", catdog_s), ("reference", ref_s)):
    rate = train / s
    gflops = rate * flops / 1e9
    print(f"scratch {name}: median {s:.2f} s/epoch = {rate:.1f} img/s = {gflops:.1f} GFLOP/s "
          f"= {100*gflops/peak:.0f}% of the measured 4096^2 matmul ({peak:.0f} GFLOP/s)"
          + (f", {100*gflops/fma:.0f}% of the FMA peak ({fma:.0f})" if fma else ""))
print(f"scratch speed-up catdog/reference: {ref_s/catdog_s:.2f}x  (FLOPs/image {flops/1e9:.3f} G)")
PY

[ "${RECIPE:-1}" = 1 ] || exit 0
start=$(date +%s.%N)
"$CATDOG" train -q --model mobilenetv2 --weights "$WEIGHTS" --threads "$THREADS" --data "$DATA" --out "$OUT/m" >/dev/null
catdog_recipe=$(echo "$(date +%s.%N) - $start" | bc)
start=$(date +%s.%N)
$PY bench/train_reference.py --model mobilenetv2 --threads "$THREADS" --data "$DATA" --json "$OUT/rm.json" >/dev/null
reference_recipe=$(echo "$(date +%s.%N) - $start" | bc)
echo "mobilenetv2 5-epoch recipe wall time: catdog ${catdog_recipe}s, reference naive ${reference_recipe}s," \
     "speed-up $(echo "scale=2; $reference_recipe / $catdog_recipe" | bc)x"
