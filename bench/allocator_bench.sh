#!/bin/bash
# Which memory allocator catdog should run with: every candidate on the same
# binary built with glibc's malloc (cmake -DCATDOG_ALLOCATOR=system into
# $PLAIN_BUILD, LD_PRELOAD / glibc tunables), and catdog as shipped (tcmalloc
# linked, build/), alternating, ROUNDS rounds, medians.
# Workloads: MobileNetV2 backbone forward (the frozen-feature pass) and the scratch
# CNN forward (bench_backbones, batch 32); scratch training (2nd epoch, 800 photos);
# eval of 800 photos; predict on a folder of 1,000 photos. Also the kernel's share of
# CPU time and minor page faults of the predict run (/usr/bin/time).
# usage: bench/allocator_bench.sh [DATA(1,000 photos)] [THREADS] [ROUNDS]
#        (repository root, after scripts/build.sh and
#         cmake -S . -B build-glibc -DCATDOG_ALLOCATOR=system && cmake --build build-glibc --target catdog bench_backbones)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DATA=${1:-/tmp/sub1000}
THREADS=${2:-$(nproc)}
ROUNDS=${3:-3}
CANDIDATES=${CANDIDATES:-glibc glibc-tuned tcmalloc jemalloc jemalloc-nodecay shipped}
PLAIN_BUILD=${PLAIN_BUILD:-build-glibc}
LIB=/usr/lib/x86_64-linux-gnu
OUT=$(mktemp -d /tmp/catdog-alloc-bench.XXXXXX)
TIMER=()
trap 'rm -rf "$OUT"' EXIT

# Runs program $2 (catdog or bench_backbones) with arguments "${@:3}" under allocator $1.
with() {
  local candidate=$1 program=$2; shift 2
  local binary=$PLAIN_BUILD/$program
  [ "$candidate" = shipped ] && binary=build/$program
  set -- "${TIMER[@]}" "$binary" "$@"  # TIMER: /usr/bin/time and its options, or nothing
  case $candidate in
    glibc|shipped) "$@" ;;
    glibc-tuned) GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=268435456 "$@" ;;
    tcmalloc) LD_PRELOAD=$LIB/libtcmalloc_minimal.so.4 "$@" ;;
    jemalloc) LD_PRELOAD=$LIB/libjemalloc.so.2 "$@" ;;
    jemalloc-nodecay) LD_PRELOAD=$LIB/libjemalloc.so.2 MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1 "$@" ;;
  esac
}

build/catdog train -q --model scratch --epochs 1 --threads "$THREADS" --data "$DATA" --out "$OUT/ckpt" >/dev/null
for round in $(seq "$ROUNDS"); do
  for c in $CANDIDATES; do
    with "$c" bench/bench_backbones mobilenetv2 32 4 "$THREADS" >> "$OUT/$c.mobilenet"
    with "$c" bench/bench_backbones scratch 32 6 "$THREADS" >> "$OUT/$c.scratchfwd"
    rm -rf "$OUT/t"
    with "$c" catdog train -q --model scratch --epochs 2 --cache memory --threads "$THREADS" --data "$DATA" --out "$OUT/t" >/dev/null
    $PY -c "import json; h=json.load(open('$OUT/t/history.json')); print(800 / h[1]['seconds'])" >> "$OUT/$c.train"
    TIMER=(/usr/bin/time -f "%e %S %U %R" -o "$OUT/time")
    with "$c" catdog eval -q --json --split train \
        --threads "$THREADS" --checkpoint "$OUT/ckpt" --data "$DATA" >/dev/null
    awk '{print 800 / $1}' "$OUT/time" >> "$OUT/$c.eval"
    with "$c" catdog predict -q --threads "$THREADS" \
        --checkpoint "$OUT/ckpt" "$DATA" >/dev/null
    TIMER=()
    read -r wall sys user faults < "$OUT/time"
    echo "$(echo "1000 / $wall" | bc -l)" >> "$OUT/$c.predict"
    echo "$(echo "100 * $sys / ($sys + $user)" | bc -l)" >> "$OUT/$c.sys"
    echo "$faults" >> "$OUT/$c.faults"
  done
  echo "round $round done" >&2
done
printf "%-17s %12s %12s %12s %12s %12s %10s %12s\n" allocator "mnv2 fwd/s" "scratch fwd/s" "train img/s" \
  "eval img/s" "predict img/s" "sys %" "faults"
for c in $CANDIDATES; do
  printf "%-17s %12.1f %12.1f %12.1f %12.1f %12.1f %10.1f %12.0f\n" "$c" "$(median < "$OUT/$c.mobilenet")" \
    "$(median < "$OUT/$c.scratchfwd")" "$(median < "$OUT/$c.train")" "$(median < "$OUT/$c.eval")" \
    "$(median < "$OUT/$c.predict")" "$(median < "$OUT/$c.sys")" "$(median < "$OUT/$c.faults")"
done
