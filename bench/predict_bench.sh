#!/bin/bash
# Prediction speed: `catdog predict` vs the PyTorch reference (bench/predict_reference.py),
# same thread count, alternating A and B, medians and ratios.
#   1. one image, end to end (process start, model load, decode, forward, the sentence):
#      ROUNDS x (catdog, reference) wall times.
#   2. batch throughput over a folder (DATA, 3000 images): images / wall time, FOLDER_ROUNDS
#      (default 3) rounds.
# For scratch and mobilenetv2. catdog's checkpoints: $SCRATCH_CKPT / $MOBILENET_CKPT, else
# trained here for 1 epoch on 100 + 100 images of DATA (the weights' values do not change
# the work). The reference uses random weights of the same architecture (torch.save).
# usage: [MODELS=scratch] [FOLDER_ROUNDS=1] bench/predict_bench.sh [DATA] [THREADS] [ROUNDS]   (from the repository root, after
#        cmake --build build --target catdog)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DATA=${1:-/work/shared/data/catdog-dev}
THREADS=${2:-$(nproc)}
ROUNDS=${3:-15}
FOLDER_ROUNDS=${FOLDER_ROUNDS:-3}
MODELS=${MODELS:-scratch mobilenetv2}
IMAGE=${IMAGE:-$(find "$DATA/dog" -name '*.jpg' | sort | sed -n 1p)}
WEIGHTS=${WEIGHTS:-/work/shared/weights/mobilenet_v2_1.0_no_top.h5}
OUT=$(mktemp -d /tmp/catdog-predict-bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT


# Times `catdog predict` and the reference on INPUT, alternating, ROUNDS times each;
# sets C and R to the two medians in seconds.
alternate() {  # tag input rounds
  local tag=$1 input=$2 rounds=$3
  for _ in $(seq "$rounds"); do
    seconds "$CATDOG" predict -q --threads "$THREADS" --checkpoint "$ckpt" "$input" >> "$OUT/$model.catdog.$tag"
    seconds $PY bench/predict_reference.py --model "$model" --threads "$THREADS" --weights "$OUT/$model.pt" "$input" \
        >> "$OUT/$model.reference.$tag"
  done
  C=$(median < "$OUT/$model.catdog.$tag"); R=$(median < "$OUT/$model.reference.$tag")
}

echo "data $DATA, image $IMAGE, threads $THREADS, rounds $ROUNDS, $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
N=$(find -L "$DATA" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | wc -l)
for model in $MODELS; do
  if [ "$model" = scratch ]; then ckpt=$(checkpoint scratch "${SCRATCH_CKPT:-}"); else ckpt=$(checkpoint mobilenetv2 "${MOBILENET_CKPT:-}"); fi
  $PY bench/predict_reference.py --model "$model" --weights "$OUT/$model.pt" --export
  echo "== $model: $("$CATDOG" predict -q --threads "$THREADS" --checkpoint "$ckpt" "$IMAGE")"
  alternate one "$IMAGE" "$ROUNDS"
  echo "$model one image: catdog median $C s, reference median $R s, reference/catdog = $(echo "scale=2; $R / $C" | bc)x"
  alternate all "$DATA" "$FOLDER_ROUNDS"
  echo "$model folder of $N images: catdog $C s ($(echo "scale=1; $N / $C" | bc) images/s)," \
       "reference $R s ($(echo "scale=1; $N / $R" | bc) images/s), catdog/reference = $(echo "scale=2; $R / $C" | bc)x"
done
