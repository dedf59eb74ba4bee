#!/bin/bash
# Accuracy of the scratch recipe (default 10 epochs; EPOCHS=n to shorten), catdog vs the PyTorch reference,
# on the same split: per-epoch history, then test accuracy (catdog: last.ckpt, which is
# what the reference evaluates, and best.ckpt). Both run at the same time with THREADS
# threads each, so the machine's load hits both alike.
# usage: bench/train_accuracy.sh [DATA] [THREADS] [OUT]   (after building build/catdog)
set -euo pipefail
DATA=${1:-/work/shared/data/catdog-dev}
THREADS=${2:-1}
OUT=${3:-/tmp/catdog-train-accuracy}
EPOCHS=${EPOCHS:-10}
CATDOG=${CATDOG:-build/catdog}
mkdir -p "$OUT"
"$CATDOG" train -q --model scratch --epochs "$EPOCHS" --threads "$THREADS" --data "$DATA" --out "$OUT/catdog" > "$OUT/catdog.log" 2>&1 &
catdog_pid=$!
/usr/bin/python3 bench/train_reference.py --model scratch --epochs "$EPOCHS" --threads "$THREADS" --data "$DATA" \
    --json "$OUT/reference.json" > "$OUT/reference.log" 2>&1 &
reference_pid=$!
wait $catdog_pid
for checkpoint in last best; do
  "$CATDOG" eval -q --threads "$THREADS" --json --data "$DATA" --checkpoint "$OUT/catdog/$checkpoint.ckpt" |
    /usr/bin/python3 -c "import json, sys; r = json.load(sys.stdin)
print(f'catdog $checkpoint.ckpt: test loss {r[\"loss\"]:.4f} accuracy {r[\"accuracy\"]:.4f}')"
done
cat "$OUT/catdog/history.csv"
wait $reference_pid
cat "$OUT/reference.log"
