# Shared by the bench/*.sh scripts (sourced).
PY=/usr/bin/python3  # Debian's python3-torch, the reference
# REFERENCE_TCMALLOC=1: the reference as an expert runs it, with tcmalloc preloaded
# (catdog links it; plain PyTorch pays glibc's page faults on every batch).
if [ -n "${REFERENCE_TCMALLOC:-}" ]; then
  PY="env LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 $PY"
fi
CATDOG=${CATDOG:-build/catdog}

# Median of the numbers on stdin, one per line.
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# Wall seconds of a command, its output discarded.
seconds() {
  local t0 t1
  t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N)
  echo "scale=4; ($t1 - $t0) / 1000000000" | bc
}

# A checkpoint to measure with: the given one ($2), else one trained here for 1 epoch on the
# first 100 + 100 images of $DATA (weights' values do not change the work). Uses $OUT,
# $THREADS and $WEIGHTS (the Keras file for the transfer models).
checkpoint() {  # model -> checkpoint file
  local given=$2
  if [ -n "$given" ]; then echo "$given"; return; fi
  mkdir -p "$OUT/small/cat" "$OUT/small/dog"
  for class in cat dog; do
    find "$(realpath "$DATA")/$class" -name '*.jpg' | sort | sed -n 1,100p | xargs -I{} ln -sf {} "$OUT/small/$class/"
  done
  "$CATDOG" train -q --model "$1" --epochs 1 --threads "$THREADS" --data "$OUT/small" --weights "$WEIGHTS" \
      --out "$OUT/run-$1" >/dev/null
  echo "$OUT/run-$1/best.ckpt"
}
