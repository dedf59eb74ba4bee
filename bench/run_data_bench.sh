#!/usr/bin/env bash
# Data pipeline: catdog's BatchLoader (bench_data_pipeline) vs torchvision's
# ImageFolder + DataLoader (bench/data_pipeline_reference.py), same images, same
# thread count, alternating A B A B ... Prints each round, the medians and ratios.
# The OS page cache cannot be dropped here, so every file is read once first and
# both sides read from the page cache.
#   bench/run_data_bench.sh [DATA] [THREADS] [ROUNDS]   (from the repository root, after
#   cmake --build build --target bench_data_pipeline)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DATA=${1:-/work/shared/data/catdog-dev}
THREADS=${2:-$(nproc)}
ROUNDS=${3:-3}
BENCH=${BENCH:-build/bench/bench_data_pipeline}

OUT=$(mktemp -d /tmp/catdog-data-bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

find "$DATA" -type f -exec cat {} + >/dev/null  # warm-up read: page cache for both
echo "data $DATA, threads $THREADS, rounds $ROUNDS, $(lscpu | sed -n 's/^Model name: *//p')"
for round in $(seq "$ROUNDS"); do
  "$BENCH" "$DATA" "$THREADS" > "$OUT/a$round.json"
  $PY bench/data_pipeline_reference.py "$DATA" "$THREADS" 2 > "$OUT/b$round.json"
  echo "round $round: catdog $(cat "$OUT/a$round.json")"
  echo "round $round: reference $(cat "$OUT/b$round.json")"
done
$PY - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
a = [json.load(open(f"{out}/a{r}.json")) for r in range(1, rounds + 1)]
b = [json.load(open(f"{out}/b{r}.json")) for r in range(1, rounds + 1)]
uncached = statistics.median(x["uncached_img_s"] for x in a)
cached = statistics.median(x["cached_img_s"] for x in a)
ref = [statistics.median(x["epoch_img_s"][e] for x in b) for e in range(2)]
print(f"median images/s: catdog first epoch {uncached:.0f}, catdog cached epoch {cached:.0f}, "
      f"reference epoch 1 {ref[0]:.0f}, reference epoch 2 {ref[1]:.0f}")
print(f"ratio first epoch (catdog uncached / reference epoch 1): {uncached / ref[0]:.2f}x")
print(f"ratio cached epoch (catdog cached / reference epoch 2): {cached / ref[1]:.2f}x")
PY
