#!/bin/bash
# A soak of `catdog serve` on loopback under a bounded mixed load (issue 22, "beyond the list"):
# good photos, garbage bytes, slow clients that trickle their head, oversize bodies (declared and
# chunked) and floods of connections, for SOAK_SECONDS, then it stops by itself. Reports the
# server's peak resident memory (sampled every 0.2 s), requests unanswered, and /healthz latency
# (probed every 0.25 s: max and share over 100 ms). Exit 1 when a bound is broken:
# RSS over RSS_LIMIT_MB, any request unanswered, or /healthz ever over 100 ms (or unanswered).
# usage: [SOAK_SECONDS=600] [RSS_LIMIT_MB=1500] bench/serve_soak.sh [CHECKPOINT] [DATA]
#        (from the repository root, after cmake --build build --target catdog; loopback only)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DATA=${2:-/work/shared/data/catdog-dev}
SOAK_SECONDS=${SOAK_SECONDS:-600}
RSS_LIMIT_MB=${RSS_LIMIT_MB:-1500}
THREADS=${THREADS:-$(nproc)}
WEIGHTS=${WEIGHTS:-/work/shared/weights/mobilenet_v2_1.0_no_top.h5}
OUT=$(mktemp -d /tmp/catdog-serve-soak.XXXXXX)
PORT=${PORT:-8093}
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$OUT"; }
trap cleanup EXIT

CKPT=$(checkpoint scratch "${1:-}")
"$CATDOG" serve -q --threads "$THREADS" --checkpoint "$CKPT" --host 127.0.0.1 --port "$PORT" \
    --max-upload 2 --timeout 5 --workers 2 --queue 16 2>"$OUT/serve.log" &
SERVER=$!
for _ in $(seq 1200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

find "$(realpath "$DATA")" -name '*.jpg' | sort | sed -n '1~50p' | head -40 > "$OUT/photos.txt"
timeout $((SOAK_SECONDS + 60)) $PY - "$PORT" "$SERVER" "$SOAK_SECONDS" "$RSS_LIMIT_MB" "$OUT/photos.txt" <<'EOF'
import os, random, select, socket, sys, threading, time
port, pid, seconds, rss_limit, photo_list = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
photos = [open(p.strip(), 'rb').read() for p in open(photo_list) if p.strip()]
end = time.time() + seconds
lock = threading.Lock()
counts = {}          # kind -> {status: n}
unanswered = []      # (kind, what)
healthz = []         # seconds
peak_rss = [0]

def note(kind, status):
    with lock:
        counts.setdefault(kind, {}).setdefault(status, 0)
        counts[kind][status] += 1

def exchange(head, body=b'', chunks=None, trickle=None, timeout=30):
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    try:
        if trickle:  # a byte at a time until the server answers (408 at its deadline)
            s.sendall(head[:20])
            for b in head[20:]:
                if select.select([s], [], [], trickle)[0]: break
                try:
                    s.sendall(bytes([b]))
                except OSError:
                    break
        else:
            s.sendall(head)
        try:
            if chunks:
                for c in chunks: s.sendall(c)
            elif body: s.sendall(body)
        except OSError:
            pass  # the server answered and closed before the body was sent: read the answer
        data = b''
        while b'\r\n\r\n' not in data:
            got = s.recv(65536)
            if not got: break
            data += got
        return int(data.split(b' ')[1]) if data.startswith(b'HTTP/1.1 ') else None
    except (OSError, ValueError):
        return None
    finally:
        s.close()

def post(body, extra=b''):
    return b'POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/jpeg\r\nConnection: close\r\n' + extra

def client(kind):
    while time.time() < end:
        if kind == 'photo':
            b = random.choice(photos); st = exchange(post(b) + b'Content-Length: %d\r\n\r\n' % len(b), b)
        elif kind == 'garbage':
            b = os.urandom(random.randint(1, 200000)); st = exchange(post(b) + b'Content-Length: %d\r\n\r\n' % len(b), b)
        elif kind == 'oversize':
            st = exchange(post(b'') + b'Content-Length: 400000000\r\n\r\n')
        elif kind == 'chunked':
            chunk = b'10000\r\n' + b'\xff' * 0x10000 + b'\r\n'
            st = exchange(post(b'') + b'Transfer-Encoding: chunked\r\n\r\n', chunks=[chunk] * 64)
        elif kind == 'slow':
            st = exchange(b'GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: ' + b'a' * 40 + b'\r\n\r\n', trickle=0.3)
        note(kind, st)
        if st is None:
            with lock: unanswered.append(kind)

def probe():
    while time.time() < end:
        t = time.time()
        st = exchange(b'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', timeout=10)
        with lock: healthz.append(time.time() - t if st == 200 else float('inf'))
        time.sleep(0.25)

def sample_rss():
    while time.time() < end:
        for line in open('/proc/%d/status' % pid):
            if line.startswith('VmRSS:'): peak_rss[0] = max(peak_rss[0], int(line.split()[1]) // 1024)
        time.sleep(0.2)

mix = ['photo'] * 4 + ['garbage'] * 2 + ['oversize', 'chunked'] + ['slow'] * 8
threads = [threading.Thread(target=client, args=(k,)) for k in mix] + [threading.Thread(target=probe), threading.Thread(target=sample_rss)]
for t in threads: t.start()
for t in threads: t.join()
worst = max(healthz) if healthz else float('inf')
slow_probes = sum(1 for h in healthz if h > 0.1)
print('| load | answers (status: count) |')
print('|---|---|')
for kind, by_status in sorted(counts.items()):
    print('| %s | %s |' % (kind, ', '.join('%s: %d' % (k, v) for k, v in sorted(by_status.items(), key=str))))
print('peak RSS %d MB (bound %d); unanswered %d; /healthz %d probes, max %.1f ms, %d over 100 ms'
      % (peak_rss[0], rss_limit, len(unanswered), len(healthz), worst * 1000, slow_probes))
sys.exit(0 if peak_rss[0] <= rss_limit and not unanswered and slow_probes == 0 else 1)
EOF
kill -INT "$SERVER"; wait "$SERVER" || true; SERVER=
