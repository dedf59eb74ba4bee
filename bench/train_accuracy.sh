#!/bin/bash
# Accuracy of a training recipe, catdog vs the PyTorch reference, on the same split:
# per-epoch history, then test accuracy (catdog: last.ckpt, which is what the reference
# evaluates, and best.ckpt) and each side's wall time for the whole recipe. Both run at
# the same time with THREADS threads each, so the machine's load hits both alike.
#   MODEL=scratch (default) | mobilenetv2; WEIGHTS=the Keras no-top .h5 for mobilenetv2
#   (both sides load it; without it the reference's backbone is random torchvision);
#   EPOCHS=n (default: the recipe's, scratch 10, mobilenetv2 5).
# usage: bench/train_accuracy.sh [DATA] [THREADS] [OUT]   (after building build/catdog)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DATA=${1:-/work/shared/data/catdog-dev}
THREADS=${2:-1}
OUT=${3:-/tmp/catdog-train-accuracy}
MODEL=${MODEL:-scratch}
options=()
if [[ -n ${EPOCHS:-} ]]; then options+=(--epochs "$EPOCHS"); fi
if [[ -n ${WEIGHTS:-} ]]; then options+=(--weights "$WEIGHTS"); fi
mkdir -p "$OUT"
rm -rf "$OUT/catdog"  # a run folder left over would hand catdog its cached features
echo "load before: $(cat /proc/loadavg)"
# Runs a command with its output in LOG and writes its wall seconds to SECONDS_FILE.
timed() {
  local seconds_file=$1 log=$2 t0; shift 2
  t0=$(date +%s%N); "$@" > "$log" 2>&1
  echo "scale=1; ($(date +%s%N) - $t0) / 1000000000" | bc > "$seconds_file"
}
timed "$OUT/catdog.seconds" "$OUT/catdog.log" "$CATDOG" train -q --model "$MODEL" \
    --threads "$THREADS" --data "$DATA" "${options[@]}" --out "$OUT/catdog" &
catdog_pid=$!
timed "$OUT/reference.seconds" "$OUT/reference.log" $PY bench/train_reference.py --model "$MODEL" \
    --threads "$THREADS" --data "$DATA" "${options[@]}" --json "$OUT/reference.json" &
reference_pid=$!
wait $catdog_pid
echo "load after catdog: $(cat /proc/loadavg)"
for checkpoint in last best; do
  "$CATDOG" eval -q --threads "$THREADS" --json --data "$DATA" --checkpoint "$OUT/catdog/$checkpoint.ckpt" |
    $PY -c "import json, sys; r = json.load(sys.stdin)
print(f'catdog $checkpoint.ckpt: test loss {r[\"loss\"]:.4f} accuracy {r[\"accuracy\"]:.4f}')"
done
cat "$OUT/catdog/history.csv"
echo "catdog train wall seconds: $(cat "$OUT/catdog.seconds")"
wait $reference_pid
echo "load after reference: $(cat /proc/loadavg)"
cat "$OUT/reference.log"
echo "reference train wall seconds: $(cat "$OUT/reference.seconds")"
