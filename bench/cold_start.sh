#!/bin/bash
# Where a cold `catdog predict` starts from: wall milliseconds of processes that do
# nothing but start, alternating, medians. A program linked with LibTorch alone
# (bench_libtorch_floor) against `catdog --version` and Python's `import torch`
# (plain, and with tcmalloc preloaded), the floor under each side of
# bench/predict_bench.sh's single-image rows.
# usage: bench/cold_start.sh [ROUNDS]   (after cmake --build build --target catdog bench_libtorch_floor)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROUNDS=${1:-9}
TCMALLOC=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
commands=(
  "/bin/true"
  "build/bench/bench_libtorch_floor"
  "$CATDOG --version"
  "/usr/bin/python3 -c pass"
  "/usr/bin/python3 -c 'import torch'"
  "env LD_PRELOAD=$TCMALLOC /usr/bin/python3 -c 'import torch'"
)
OUT=$(mktemp -d /tmp/catdog-cold-start.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
echo "rounds $ROUNDS, load $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq "$ROUNDS"); do
  for i in "${!commands[@]}"; do
    t0=$(date +%s%N); eval "${commands[$i]}" >/dev/null 2>&1; t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000)) >> "$OUT/$i"
  done
done
for i in "${!commands[@]}"; do
  printf '%6s ms  %s\n' "$(median < "$OUT/$i")" "${commands[$i]}"
done
