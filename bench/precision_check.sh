#!/bin/bash
# bf16 against fp32 on the same checkpoint: accuracy and images/s of `catdog eval`
# on the test split, and the labels `catdog predict` gives every photo of DATA
# plus the held-out photos in ../shared/weights/testimgs: how many change.
# usage: bench/precision_check.sh CHECKPOINT [DATA] [THREADS]   (repository root, after building)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
CHECKPOINT=$1
DATA=${2:-../shared/data/catdog-dev}
THREADS=${3:-$(nproc)}
HELD_OUT=${HELD_OUT:-../shared/weights/testimgs}
OUT=$(mktemp -d /tmp/catdog-precision.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

for precision in fp32 bf16; do
  "$CATDOG" eval -q --json --precision "$precision" --threads "$THREADS" --checkpoint "$CHECKPOINT" \
      --data "$DATA" > "$OUT/eval-$precision.json"
  "$CATDOG" predict -q --json --precision "$precision" --threads "$THREADS" --checkpoint "$CHECKPOINT" \
      "$DATA" "$HELD_OUT" > "$OUT/predict-$precision.jsonl" || true  # a held-out file may not decode
done
$PY - "$OUT" <<'PY'
import json, math, sys
out = sys.argv[1]
evals = {p: json.load(open(f"{out}/eval-{p}.json")) for p in ("fp32", "bf16")}
for p, e in evals.items():
    n, acc = e["images"], e["accuracy"]
    print(f"{p}: test accuracy {acc:.4f} +- {math.sqrt(acc * (1 - acc) / n):.4f} (n={n}), "
          f"loss {e['loss']:.4f}, {e['images_per_second']:.1f} img/s")
print(f"accuracy change bf16 - fp32: {100 * (evals['bf16']['accuracy'] - evals['fp32']['accuracy']):+.2f} points")
labels = {}
for p in ("fp32", "bf16"):
    labels[p] = {}
    for line in open(f"{out}/predict-{p}.jsonl"):
        r = json.loads(line)
        if "label" in r:
            labels[p][r["file"]] = (r["label"], r["dog"])
common = labels["fp32"].keys() & labels["bf16"].keys()
changed = [f for f in common if labels["fp32"][f][0] != labels["bf16"][f][0]]
largest = max(abs(labels["fp32"][f][1] - labels["bf16"][f][1]) for f in common)
print(f"predict: {len(changed)} of {len(common)} labels differ between fp32 and bf16 "
      f"(largest change of p(dog): {largest:.4f})")
for f in changed:
    print(f"  {f}: fp32 {labels['fp32'][f]}, bf16 {labels['bf16'][f]}")
PY
