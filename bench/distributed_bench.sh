#!/bin/bash
# Data parallelism on this machine: 1 rank x THREADS threads vs THREADS ranks x 1
# thread (same global batch 32, same images, same cores), alternating, ROUNDS times.
# Per run: the timed scratch epoch (images decoded beforehand), the time inside c10d
# collectives and the bytes each rank all-reduces per step; then the mobilenetv2
# feature pass (each rank its share, then an all-gather).
# Then (E2E=1, the default) whole `catdog train` runs on the same images, one epoch,
# without and with --nproc: wall time, and the trainer's own communication line.
# usage: bench/distributed_bench.sh [DATA] [IMAGES] [ROUNDS]   (from the repository root,
#        after: cmake --build build --target bench_distributed catdog)
set -euo pipefail
DATA=${1:-../shared/data/catdog-dev}
IMAGES=${2:-256}
ROUNDS=${3:-2}
THREADS=${THREADS:-2}
WEIGHTS=${WEIGHTS:-../shared/weights/mobilenet_v2_1.0_no_top.h5}
BENCH=${BENCH:-build/bench/bench_distributed}
[ -f "$WEIGHTS" ] || WEIGHTS=""
echo "data $DATA, $IMAGES training images, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
  "$BENCH" "$DATA" "$IMAGES" 32 "$THREADS" 1 $WEIGHTS 2>/dev/null
  "$BENCH" "$DATA" "$IMAGES" $((32 / THREADS)) 1 "$THREADS" $WEIGHTS 2>/dev/null
done
if [ "${E2E:-1}" = 1 ]; then
  # The first IMAGES/2 photos of each class as a dataset of symlinks.
  SUB=$(mktemp -d /tmp/catdog-dist-bench.XXXXXX)
  trap 'rm -rf "$SUB"' EXIT
  for class in cat dog; do
    mkdir -p "$SUB/data/$class"
    find "$(realpath "$DATA")/$class" -name '*.jpg' | sort | head -$((IMAGES / 2)) | xargs -I{} ln -s {} "$SUB/data/$class/"
  done
  for round in $(seq "$ROUNDS"); do
    for layout in "--threads $THREADS --batch-size 32" "--threads 1 --batch-size $((32 / THREADS)) --nproc $THREADS"; do
      start=$(date +%s.%N)
      build/catdog train --model scratch --epochs 1 --cache memory $layout --data "$SUB/data" \
          --out "$SUB/run" --exist-ok 2> "$SUB/log" > /dev/null
      echo "catdog train $layout: $(echo "$(date +%s.%N) - $start" | bc) s wall," \
           "$(grep -o 'epoch 1: .*' "$SUB/log" | head -1)"
    done
  done
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
