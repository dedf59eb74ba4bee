#!/bin/bash
# The vgg16 recipe (5 epochs, frozen base + Dense512-Dense2 head) wall time, whole run
# (decode, training, validation, test): catdog (features computed once, then the head trains
# on cached features) vs the reference's naive loop (bench/train_reference.py --model vgg16:
# torchvision vgg16().features on every batch of every epoch). Same data, same thread count.
# catdog loads its base from a Keras-layout VGG16 no-top h5 made by bench/make_keras_vgg16_h5.py
# (random weights, NOT ImageNet: the real file can't be downloaded here); this also exercises
# the Keras-h5 import end to end. The reference uses torchvision's random init (same FLOPs).
# Rounds alternate the order: odd rounds catdog first, even rounds the reference first.
# usage: bench/vgg16_recipe_bench.sh [DATA] [THREADS] [ROUNDS]   (from the repository root;
#        CATDOG=path/to/catdog to use another binary; H5=file to reuse a made weight file)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DATA=${1:-/work/shared/data/catdog-dev}
THREADS=${2:-$(nproc)}
ROUNDS=${3:-2}
OUT=$(mktemp -d /tmp/catdog-vgg16-bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
H5=${H5:-$OUT/vgg16_notop_random.h5}
[ -f "$H5" ] || $PY bench/make_keras_vgg16_h5.py "$H5"

run_catdog() {
  "$CATDOG" train -q --model vgg16 --weights "$H5" --threads "$THREADS" --data "$DATA" --out "$OUT/c$1"
}
run_reference() {
  $PY bench/train_reference.py --model vgg16 --threads "$THREADS" --data "$DATA" --json "$OUT/r$1.json"
}
# Times one run; `seconds` hides the output and the exit status, so the run's result file
# proves it finished (a failed import would otherwise look like a very fast run).
timed() {
  local name=$1 round=$2 result=$3 s
  local before; before=$(cut -d' ' -f1-3 /proc/loadavg)
  s=$(seconds "run_$name" "$round")
  [ -f "$result" ] || { echo "$name round $round failed: rerun by hand to see why" >&2; exit 1; }
  echo "$s" >> "$OUT/$name.s"
  echo "round $round $name: ${s}s (load before $before, after $(cut -d' ' -f1-3 /proc/loadavg))"
}

echo "data $DATA, threads $THREADS, rounds $ROUNDS, $(lscpu | sed -n 's/^Model name: *//p')"
for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then
    timed catdog "$round" "$OUT/c$round/history.json"; timed reference "$round" "$OUT/r$round.json"
  else
    timed reference "$round" "$OUT/r$round.json"; timed catdog "$round" "$OUT/c$round/history.json"
  fi
done
CATDOG_S=$(median < "$OUT/catdog.s"); REF_S=$(median < "$OUT/reference.s")
echo "vgg16 5-epoch recipe wall time, median of $ROUNDS: catdog ${CATDOG_S}s, reference naive ${REF_S}s," \
     "speed-up $(echo "scale=2; $REF_S / $CATDOG_S" | bc)x"
