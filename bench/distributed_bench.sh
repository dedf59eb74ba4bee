#!/bin/bash
# Data parallelism on this machine: 1 rank x THREADS threads vs THREADS ranks x 1
# thread (same global batch 32, same images, same cores), alternating, ROUNDS times.
# Per run: the timed scratch epoch (images decoded beforehand), the time inside c10d
# collectives and the bytes each rank all-reduces per step; then the mobilenetv2
# feature pass (each rank its share, then an all-gather).
# usage: bench/distributed_bench.sh [DATA] [IMAGES] [ROUNDS]   (from the repository root,
#        after: cmake --build build --target bench_distributed)
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
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
