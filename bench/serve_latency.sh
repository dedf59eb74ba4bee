#!/usr/bin/env bash
# Warm single-photo latency through `catdog serve`, with and without the heat map
# (BENCHMARKS.md, "Inference engine"):
#   bench/serve_latency.sh CHECKPOINT PHOTO [REQUESTS]
# Starts serve on a free loopback port (THREADS, default 2, one worker so that
# requests do not overlap), sends 3 warm-up requests, then REQUESTS (default 30) pairs
# of sequential POSTs, alternating ?heatmap=0 and the page's default; prints curl's
# time_total medians in milliseconds (loopback: the network adds ~0.1 ms).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
CKPT=$1 PHOTO=$2 REQUESTS=${3:-30} THREADS=${THREADS:-2}
port=$((20000 + RANDOM % 20000))
"$CATDOG" serve -q --threads "$THREADS" --workers 1 --port $port --checkpoint "$CKPT" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
post() { curl -sf -o /dev/null -w '%{time_total}\n' --data-binary "@$PHOTO" -H 'Content-Type: image/jpeg' \
  "http://127.0.0.1:$port/api/predict$1"; }
for _ in 1 2 3; do post "" >/dev/null; post "?heatmap=0" >/dev/null; done
plain=() heat=()
for _ in $(seq "$REQUESTS"); do
  plain+=("$(post "?heatmap=0")")
  heat+=("$(post "")")
done
ms() { printf '%s\n' "$@" | median | awk '{printf "%.1f", $1 * 1000}'; }
echo "serve $(basename "$CKPT") $(basename "$PHOTO"): without heat map $(ms "${plain[@]}") ms, with $(ms "${heat[@]}") ms (medians of $REQUESTS)"
