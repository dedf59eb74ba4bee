#!/bin/bash
# `catdog serve` vs the Flask + PyTorch reference (bench/serve_reference.py): requests/s
# and p50/p99 latency of POST /api/predict (a real photo; face search, prediction and
# Grad-CAM heat map) at 1, 4 and 16 concurrent keep-alive clients on loopback, with wrk.
# Same LibTorch thread count for both. For scratch and mobilenetv2; catdog's checkpoints:
# $SCRATCH_CKPT / $MOBILENET_CKPT, else trained here for 1 epoch on 100 + 100 images of DATA
# (the reference has random weights of the same architecture: the work is the same).
# usage: [MODELS=scratch] [SECONDS_PER_RUN=10] [REFERENCE=0] bench/serve_bench.sh [DATA] [THREADS]
#        (REFERENCE=0: catdog alone, e.g. two builds side by side through CATDOG=...)
#        (from the repository root, after cmake --build build --target catdog; needs wrk)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DATA=${1:-/work/shared/data/catdog-dev}
THREADS=${2:-$(nproc)}
MODELS=${MODELS:-scratch mobilenetv2}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
export IMAGE=${IMAGE:-$(find "$DATA/dog" -name '*.jpg' | sort | sed -n 1p)}
WEIGHTS=${WEIGHTS:-/work/shared/weights/mobilenet_v2_1.0_no_top.h5}
OUT=$(mktemp -d /tmp/catdog-serve-bench.XXXXXX)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$OUT"; }
trap cleanup EXIT

# Waits for /healthz, then sends one warm-up request (lazy initialisation is not measured).
wait_healthy() {  # port
  for _ in $(seq 1200); do
    if curl -sf "http://127.0.0.1:$1/healthz" >/dev/null 2>&1; then
      curl -sf -o /dev/null -H 'Content-Type: image/jpeg' --data-binary "@$IMAGE" "http://127.0.0.1:$1/api/predict"
      return 0
    fi
    sleep 0.1
  done
  echo "server on port $1 did not start" >&2; exit 1
}

# CPU time (user + system, all threads) of a process so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One row per concurrency: requests/s, p50, p99 (ms), the server's CPU milliseconds per
# request (what a loaded machine distorts least), errors.
measure() {  # name port pid
  for clients in 1 4 16; do
    local before; before=$(cpu_ticks "$3")
    wrk -t1 -c"$clients" -d"${SECONDS_PER_RUN}s" --latency --timeout 30s -s bench/serve_post.lua \
        "http://127.0.0.1:$2/api/predict" > "$OUT/wrk.txt"
    awk -v name="$1" -v clients="$clients" -v ticks=$(( $(cpu_ticks "$3") - before )) -v hz="$(getconf CLK_TCK)" '
      function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
      /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^Requests\/sec/ { rps = $2 }
      / requests in / { n = $1 } /Non-2xx/ { errors = $NF } /Socket errors/ { socket = $0 }
      END { printf "| %s | %d | %.1f | %.0f | %.0f | %.0f | %d %s |\n", name, clients, rps, p50, p99,
                   n ? 1000 * ticks / hz / n : 0, errors, socket }' "$OUT/wrk.txt"
  done
}

echo "image $IMAGE ($(file -b "$IMAGE" | grep -o '[0-9]*x[0-9]*' | tail -1)), threads $THREADS, $SECONDS_PER_RUN s per run, $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
echo "| server | clients | requests/s | p50 ms | p99 ms | CPU ms/request | errors |"
echo "|---|---|---|---|---|---|---|"
for model in $MODELS; do
  given=SCRATCH_CKPT; [ "$model" = mobilenetv2 ] && given=MOBILENET_CKPT
  ckpt=$(checkpoint "$model" "${!given:-}")
  "$CATDOG" serve -q --threads "$THREADS" --checkpoint "$ckpt" --port 8089 --queue 64 2>"$OUT/serve.log" &
  SERVER=$!
  wait_healthy 8089
  measure "catdog $model" 8089 "$SERVER"
  kill -INT "$SERVER"; wait "$SERVER" || true; SERVER=

  [ "${REFERENCE:-1}" = 0 ] && continue
  $PY bench/serve_reference.py --model "$model" --threads "$THREADS" --port 8090 >"$OUT/reference.log" 2>&1 &
  SERVER=$!
  wait_healthy 8090
  measure "Flask $model" 8090 "$SERVER"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
done
