#!/bin/bash
# Issue 9's variants, catdog's side: trains each recipe on DATA (wall time from
# /usr/bin/time), then reads the test split once per checkpoint (plain and with flip
# TTA) and prints accuracy +- one standard error. Results in BENCHMARKS.md, section
# "Beyond the tutorial's recipe". Choose on validation (history.csv) before reading these.
# usage: bench/recipe_variants.sh [DATA] [OUT] [THREADS]   (after cmake --build build --target catdog)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DATA=${1:-/work/shared/data/catdog-dev}
OUT=${2:-/tmp/catdog-recipe-variants}
THREADS=${3:-$(nproc)}
WEIGHTS=${WEIGHTS:-/work/shared/weights/mobilenet_v2_1.0_no_top.h5}
mkdir -p "$OUT"
mobilenet=(--model mobilenetv2 --weights "$WEIGHTS")
train() {  # name, flags...
  local name=$1; shift
  rm -rf "${OUT:?}/$name"
  /usr/bin/time -f "$name: %e s wall, %U s user, %S s kernel, %M KB peak" \
    "$CATDOG" train -q --threads "$THREADS" --data "$DATA" --out "$OUT/$name" "$@" >/dev/null
}
train seed "${mobilenet[@]}"
train augment "${mobilenet[@]}" --augment
train fine-tune "${mobilenet[@]}" --fine-tune
train fine-tune-cosine "${mobilenet[@]}" --fine-tune --schedule cosine --label-smoothing 0.1
train scratch --model scratch
train scratch-augment --model scratch --augment
test_split() {  # checkpoint, flags...
  "$CATDOG" eval -q --json --threads "$THREADS" --data "$DATA" --checkpoint "$@" | $PY -c "
import json, math, sys
r = json.load(sys.stdin); a = r['accuracy']; n = r['images']
print(f\"test accuracy {a:.4f} +- {math.sqrt(a * (1 - a) / n):.4f}, loss {r['loss']:.4f}\")"
}
for name in seed augment fine-tune fine-tune-cosine scratch scratch-augment; do
  for checkpoint in best last; do
    echo "$name $checkpoint.ckpt: $(test_split "$OUT/$name/$checkpoint.ckpt"); with TTA: $(test_split "$OUT/$name/$checkpoint.ckpt" --tta)"
  done
done
