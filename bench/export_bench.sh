#!/usr/bin/env bash
# catdog's forward pass against ONNX Runtime on catdog's own ONNX export of the
# same model (BENCHMARKS.md, "Export: catdog against ONNX Runtime"):
#   bench/export_bench.sh MODEL [CHECKPOINT]      MODEL: mobilenetv2 | scratch | vgg16
#   FOLDER=DIR bench/export_bench.sh MODEL [CHECKPOINT]   adds the folder row
# Env: DATA (default ../shared/data/catdog-dev; for the checkpoint trained when none
# is given), WEIGHTS (the Keras file of MODEL), THREADS (2), ROUNDS (5), PRECISION
# (fp32), OUT (/tmp/export-bench). Per batch size (1, 32), ROUNDS rounds, each running
# catdog's bench_backbones on the product's path (the inference engine), on the eager
# modules, then ONNX Runtime, one after the other; prints every round and the medians
# in images per second. bench_backbones times the backbone (the
# scratch network whole), ONNX Runtime the whole exported model (head and softmax
# too: a few thousandths of the work), both on random inputs after one warm-up run.
# The folder row, whole processes timed on both sides: `catdog predict` over FOLDER
# against bench/onnxruntime_folder_decode.py (PIL, DCT-scaled decode, 2 threads) then
# onnxruntime_forward.js over its tensors in batches of 32.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
MODEL=$1
DATA=${DATA:-../shared/data/catdog-dev}
WEIGHTS=${WEIGHTS:-../shared/weights/mobilenet_v2_1.0_no_top.h5}
THREADS=${THREADS:-2} ROUNDS=${ROUNDS:-5} PRECISION=${PRECISION:-fp32}
OUT=${OUT:-/tmp/export-bench}
ORT=${ORT:-$PWD/.deps/node_modules/onnxruntime-node}
mkdir -p "$OUT"
ckpt=$(checkpoint "$MODEL" "${2:-}")
"$CATDOG" export -q --checkpoint "$ckpt" --format onnx -o "$OUT/$MODEL.onnx"
for batch in 1 32; do
  iterations=$((batch == 1 ? 100 : 6))
  [ "$MODEL" = vgg16 ] && iterations=$((batch == 1 ? 20 : 2))
  for round in $(seq "$ROUNDS"); do
    c=$(build/bench/bench_backbones "$MODEL" $batch $iterations "$THREADS" "$PRECISION")
    e=$(build/bench/bench_backbones "$MODEL" $batch $iterations "$THREADS" "$PRECISION" eager)
    o=$(node bench/onnxruntime_forward.js "$ORT" "$OUT/$MODEL.onnx" $batch $iterations "$THREADS")
    echo "$MODEL batch $batch round $round: catdog $c img/s (eager $e), onnxruntime $o img/s"
    echo "$c" >>"$OUT/catdog-$MODEL-$batch"
    echo "$e" >>"$OUT/eager-$MODEL-$batch"
    echo "$o" >>"$OUT/ort-$MODEL-$batch"
  done
  c=$(median <"$OUT/catdog-$MODEL-$batch") e=$(median <"$OUT/eager-$MODEL-$batch") o=$(median <"$OUT/ort-$MODEL-$batch")
  rm -f "$OUT/catdog-$MODEL-$batch" "$OUT/eager-$MODEL-$batch" "$OUT/ort-$MODEL-$batch"
  echo "$MODEL batch $batch $PRECISION median: catdog $c img/s (eager $e), onnxruntime $o img/s," \
    "ratio $(echo "scale=2; $c / $o" | bc) (eager $(echo "scale=2; $e / $o" | bc))"
done
if [ -n "${FOLDER:-}" ]; then
  count=$(find -L "$FOLDER" -type f | wc -l)
  for round in $(seq "$ROUNDS"); do
    c=$(seconds "$CATDOG" predict -q --threads "$THREADS" --checkpoint "$ckpt" "$FOLDER")
    d=$(seconds $PY bench/onnxruntime_folder_decode.py "$FOLDER" "$OUT/folder.f32" "$THREADS")
    f=$(seconds node bench/onnxruntime_forward.js "$ORT" "$OUT/$MODEL.onnx" 32 1 "$THREADS" 160 "$OUT/folder.f32")
    o=$(echo "$d + $f" | bc)
    echo "$MODEL folder of $count round $round: catdog $c s, onnxruntime $o s (decode $d s, forward $f s)"
    echo "$count / $c" | bc -l >>"$OUT/catdog-folder"
    echo "$count / $o" | bc -l >>"$OUT/ort-folder"
  done
  c=$(median <"$OUT/catdog-folder") o=$(median <"$OUT/ort-folder")
  rm -f "$OUT/catdog-folder" "$OUT/ort-folder"
  echo "$MODEL folder median: catdog $c img/s, onnxruntime $o img/s, ratio $(echo "scale=2; $c / $o" | bc)"
fi
