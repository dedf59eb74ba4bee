#!/usr/bin/env bash
# On a GPU machine (the device tool; its image has PyTorch's pip wheel, CMake,
# ninja and nvcc), from the repository root, with .device/ carried
# (scripts/device_bundle.sh makes it here):
#   bash scripts/device_check.sh
# Builds catdog (that target only) against the wheel's LibTorch 2.x with CUDA
# and the bundle's third-party libraries, then on CUDA: trains mobilenetv2 for
# 1 epoch and scratch for 2 (the first includes CUDA's start-up), evaluates both
# with --precision auto (fp16 autocast) and fp32, predicts every photo with
# --precision auto, and runs bench/train_reference.py the same way on the same
# GPU. Writes $OUT/summary.md (images/s, accuracies, wall times, versions),
# $OUT/check.log (everything), $OUT/build.log and the JSON results. Each step
# has its own time limit; a failed step is logged and the next independent one
# still runs. Distributed training is built only when the wheel has Gloo's headers.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/catdog-device-out}
WORK=${WORK:-/tmp/catdog-device}
JOBS=${JOBS:-$(nproc)}
DEVICE=${DEVICE:-cuda}  # cpu, with TORCH_CMAKE and TORCH_INCLUDE, to try the script without a GPU
mkdir -p "$OUT" "$WORK/logs"
exec > >(tee "$OUT/check.log") 2>&1
tee_pid=$!
PREFIX=$WORK/prefix
DATA=$WORK/data/catdog-dev
WEIGHTS=$WORK/data/mobilenet_v2_1.0_no_top.h5
CATDOG=$PWD/build-device/catdog
PY=${PY:-$(command -v python3)}
: > "$WORK/steps.tsv"

# step NAME LIMIT_S COMMAND...: runs it with its output in $WORK/logs/NAME.log (and
# here), records rc and seconds; returns the command's rc. No step runs past
# DEADLINE seconds after the start, so the summary is always written in time.
DEADLINE=${DEADLINE:-470}
step() {
  local name=$1 limit=$2 t0 rc
  shift 2
  if [ $(( DEADLINE - SECONDS )) -lt 10 ]; then
    echo "+++ $name: skipped, past the deadline"
    printf '%s\tskipped\t0\n' "$name" >> "$WORK/steps.tsv"
    return 1
  fi
  [ "$limit" -gt $(( DEADLINE - SECONDS )) ] && limit=$(( DEADLINE - SECONDS ))
  echo "+++ [$(date +%T)] $name: $*"
  t0=$(date +%s.%N)
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$WORK/logs/$name.log"
  rc=${PIPESTATUS[0]}
  local seconds
  seconds=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  echo "+++ [$(date +%T)] $name: rc $rc, ${seconds}s"
  printf '%s\t%s\t%s\n' "$name" "$rc" "$seconds" >> "$WORK/steps.tsv"
  return "$rc"
}

echo "+++ machine"
nvidia-smi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$WORK/gpu.txt"
{ grep PRETTY_NAME /etc/os-release; uname -r; ldd --version | head -1; c++ --version | head -1; cmake --version | head -1
  echo "ninja $(ninja --version 2>/dev/null)"; nvcc --version 2>/dev/null | tail -1; echo "cores $(nproc)"
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(),
"cxx11abi", torch._C._GLIBCXX_USE_CXX11_ABI)'; } 2>&1 | tee "$WORK/versions.txt"
TORCH_CMAKE=${TORCH_CMAKE:-$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')}
TORCH_INCLUDE=${TORCH_INCLUDE:-$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "include"))')}
echo "+++ LibTorch: $TORCH_CMAKE; include/ holds: $(ls "$TORCH_INCLUDE" | tr '\n' ' ')"

step unpack 120 bash -c "rm -rf '$PREFIX' '$WORK/data' && tar -C '$WORK' -xJf .device/prefix.tar.xz && tar -C '$WORK' -xf .device/data.tar"
echo "+++ data: $(find "$DATA" -type f | wc -l) photos"

# --- configure and build --------------------------------------------------------
distributed=OFF
[ -f "$TORCH_INCLUDE/gloo/config.h" ] && distributed=ON
cuda_root=${CUDA_HOME:-}
[ -z "$cuda_root" ] && command -v nvcc >/dev/null && cuda_root=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
# The image's own g++ (/usr/bin), not $CXX (/opt/gcc there): that one brings
# a second libstdc++ into catdog, and std::locale objects made by the wheel's
# libstdc++ were freed by catdog's copy ("free(): invalid pointer" in
# torch::jit::load, i.e. every eval and predict).
[ -x /usr/bin/g++ ] && export CC=/usr/bin/gcc CXX=/usr/bin/g++
generator=(-G Ninja)
command -v ninja >/dev/null || generator=()
extra_cxx=""
# The wheel's own fmt, if any, must not replace the bundle's fmt 9 that spdlog was built with.
[ -d "$TORCH_INCLUDE/fmt" ] && extra_cxx="-I$PREFIX/include"
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}  # no GPU probe at configure time
export CMAKE_POLICY_VERSION_MINIMUM=3.5                   # CMake 4 and older config files
export PKG_CONFIG_LIBDIR=$PREFIX/lib/pkgconfig            # only the bundle's cpp-httplib.pc
# The bundle's libraries, for catdog only, never for Python. STAND_INS=off leaves out the
# stand-ins of the libraries the bundle omits, where the real ones are there (a trial here).
RUN_LIBS=$PREFIX/lib
[ "${STAND_INS:-on}" = off ] || RUN_LIBS+=:$PREFIX/lib/stand-ins
configure=(cmake -S . -B build-device "${generator[@]}" -DCMAKE_BUILD_TYPE=Release
  "-DCMAKE_PREFIX_PATH=$PREFIX;$TORCH_CMAKE" -DCATDOG_BUILD_TESTS=OFF -DCATDOG_DISTRIBUTED=$distributed
  -DOpenCV_DIR=$PREFIX/lib/cmake/OpenCV -Dfmt_DIR=$PREFIX/lib/cmake/fmt -Dspdlog_DIR=$PREFIX/lib/cmake/spdlog
  -DCLI11_DIR=$PREFIX/lib/cmake/CLI11 -Dnlohmann_json_DIR=$PREFIX/lib/cmake/nlohmann_json
  -DHDF5_ROOT=$PREFIX -DHDF5_NO_FIND_PACKAGE_CONFIG_FILE=ON
  -DJPEG_INCLUDE_DIR=$PREFIX/include -DJPEG_LIBRARY=$PREFIX/lib/libjpeg.so
  -DZLIB_INCLUDE_DIR=$PREFIX/include -DZLIB_LIBRARY=$PREFIX/lib/libz.so
  -DPKG_CONFIG_EXECUTABLE=$PREFIX/bin/pkgconf "-DCMAKE_CXX_FLAGS=$extra_cxx"
  # The wheel's libraries find theirs (cuDNN, cuBLAS, ...) at run time through their own
  # RUNPATH; the linker need not resolve them.
  "-DCMAKE_EXE_LINKER_FLAGS=-Wl,--allow-shlib-undefined -Wl,-rpath-link,$PREFIX/lib:$PREFIX/lib/stand-ins")
[ -n "$cuda_root" ] && configure+=(-DCUDAToolkit_ROOT=$cuda_root -DCUDA_TOOLKIT_ROOT_DIR=$cuda_root)
# EXTRA_CMAKE_ARGS: more -D settings for a rerun, e.g. -DCATDOG_ALLOCATOR=system.
read -r -a extra_cmake_args <<<"${EXTRA_CMAKE_ARGS:-}"
configure+=("${extra_cmake_args[@]}")
built=0
if step configure 150 "${configure[@]}" &&
   step build "${BUILD_LIMIT:-330}" cmake --build build-device --target catdog -j "$JOBS"; then
  built=1
fi
cat "$WORK/logs/configure.log" "$WORK/logs/build.log" > "$OUT/build.log" 2>/dev/null
if [ $built = 1 ]; then
  readelf -d "$CATDOG" | grep NEEDED
  env "LD_LIBRARY_PATH=$RUN_LIBS" ldd "$CATDOG"
  readelf -d "$CATDOG" | grep -q 'libtorch_cuda.so' && echo "+++ catdog links libtorch_cuda" ||
    echo "+++ WARNING: catdog does not link libtorch_cuda: CUDA will be unavailable"
  step version 30 env "LD_LIBRARY_PATH=$RUN_LIBS" "$CATDOG" --version
fi

# --- catdog and the PyTorch reference on the GPU -----------------------------------
# Training first, both sides (the comparison), then eval and predict: what the
# deadline cuts is the least important.
RUNS=$WORK/runs
rm -rf "$RUNS"
c=(env "LD_LIBRARY_PATH=$RUN_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$CATDOG" --device "$DEVICE")
run_catdog() {  # step name, limit, catdog arguments: only when the build succeeded
  local name=$1 limit=$2
  shift 2
  [ $built = 1 ] && step "$name" "$limit" "${c[@]}" "$@"
}
run_catdog mobilenetv2-train 180 train --model mobilenetv2 --weights "$WEIGHTS" --data "$DATA" --epochs 1 \
    --out "$RUNS/mobilenetv2" --json
run_catdog scratch-train 180 train --model scratch --data "$DATA" --epochs 2 --out "$RUNS/scratch" --json
export PYTHONUNBUFFERED=1
step reference-scratch 180 "$PY" bench/train_reference.py --device "$DEVICE" --model scratch --epochs 2 --data "$DATA" \
    --json "$WORK/reference-scratch.json"
step reference-mobilenetv2 180 "$PY" bench/train_reference.py --device "$DEVICE" --model mobilenetv2 --weights "$WEIGHTS" \
    --precision auto --epochs 1 --data "$DATA" --json "$WORK/reference-mobilenetv2.json"
for model in mobilenetv2 scratch; do
  [ -f "$RUNS/$model/best.ckpt" ] || continue
  run_catdog $model-eval-auto 90 eval --checkpoint "$RUNS/$model" --data "$DATA" --json
  run_catdog $model-predict-auto 120 predict --checkpoint "$RUNS/$model" --precision auto --json "$DATA/cat" "$DATA/dog"
  run_catdog $model-eval-fp32 90 eval --checkpoint "$RUNS/$model" --data "$DATA" --precision fp32 --json
done

# --- summary --------------------------------------------------------------------
for f in "$RUNS"/*/history.json; do [ -f "$f" ] && cp "$f" "$OUT/history-$(basename "$(dirname "$f")").json"; done
cp "$WORK"/reference-*.json "$OUT/" 2>/dev/null
WORK=$WORK DISTRIBUTED=$distributed "$PY" - > "$OUT/summary.md" <<'PY'
import glob, json, os, re
work = os.environ["WORK"]
def log(name):
    try:
        return open(f"{work}/logs/{name}.log", errors="replace").read()
    except OSError:
        return ""
def json_lines(name):
    out = []
    for line in log(name).splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out
steps = [line.rstrip("\n").split("\t") for line in open(f"{work}/steps.tsv")]
seconds = {name: float(s) for name, rc, s in steps}
succeeded = {name for name, rc, s in steps if rc == "0"}
print("# catdog on CUDA: scripts/device_check.sh\n")
print("GPU:", open(f"{work}/gpu.txt").read().strip(), "  ")
for line in open(f"{work}/versions.txt").read().splitlines():
    print(line, "  ")
print(f"distributed training built: {os.environ['DISTRIBUTED']}\n")
print("| step | rc | wall s |\n| --- | ---: | ---: |")
for name, rc, s in steps:
    print(f"| {name} | {rc} | {s} |")
print()
for model in ("mobilenetv2", "scratch"):
    train_log = log(f"{model}-train")
    if not train_log:
        continue
    print(f"## catdog {model}\n")
    m = re.search(r"train (\d+), validation (\d+), test (\d+)", train_log)
    train_n = int(m.group(1)) if m else 0
    if m:
        print(f"- split: train {m.group(1)}, validation {m.group(2)}, test {m.group(3)}")
    for line in train_log.splitlines():
        if "features: one" in line or "decoded-image cache" in line or "epoch " in line and " - " in line:
            print("- log:", line.split("] ", 1)[-1].strip())
    try:
        history = json.load(open(f"{work}/runs/{model}/history.json"))
        for row in history:
            rate = f", {train_n / row['seconds']:.0f} train img/s (epoch incl. validation)" if train_n and row["seconds"] else ""
            print(f"- epoch {row['epoch']}: {row['seconds']:.2f} s, accuracy {row['accuracy']:.4f},"
                  f" val_accuracy {row['val_accuracy']:.4f}{rate}")
    except (OSError, ValueError, KeyError):
        print("- no history.json")
    if f"{model}-train" in seconds and train_n:
        print(f"- whole `train` process: {seconds[f'{model}-train']:.1f} s wall")
    for precision in ("auto", "fp32"):
        for report in json_lines(f"{model}-eval-{precision}"):
            print(f"- eval ({precision}): accuracy {report.get('accuracy', float('nan')):.4f} on {report.get('images')} test"
                  f" images, {report.get('images_per_second', 0):.0f} images/s, process {seconds.get(f'{model}-eval-{precision}', 0):.1f} s")
    predictions = json_lines(f"{model}-predict-auto")
    if predictions:
        ok = [p for p in predictions if "error" not in p]
        wall = seconds.get(f"{model}-predict-auto", 0)
        print(f"- predict (auto): {len(ok)} of {len(predictions)} photos in {wall:.1f} s process wall"
              f" = {len(ok) / wall if wall else 0:.0f} images/s end to end")
    print()
for model in ("scratch", "mobilenetv2"):
    try:
        ref = json.load(open(f"{work}/reference-{model}.json"))
    except (OSError, ValueError):
        continue
    print(f"## PyTorch reference {model} (device {ref.get('device')}, precision {ref.get('precision')})\n")
    print(f"- decode (PIL, one thread): {ref['decode_seconds']:.1f} s; process {seconds.get(f'reference-{model}', 0):.1f} s wall")
    for row in ref["history"]:
        print(f"- epoch {row['epoch']}: {row['seconds']:.2f} s, {row['train_images_per_second']:.0f} train img/s,"
              f" val_accuracy {row['val_accuracy']:.4f}")
    print(f"- test accuracy {ref['test_accuracy']:.4f}\n")

# Side by side: whole epochs (training + validation) for scratch, whole processes for the
# frozen-backbone recipe (catdog: decode + one backbone pass + head epoch; reference: decode +
# the backbone on every batch).
rows = []
try:
    catdog = json.load(open(f"{work}/runs/scratch/history.json"))
    ref = json.load(open(f"{work}/reference-scratch.json"))
    for c, r in zip(catdog, ref["history"]):
        rows.append((f"scratch epoch {c['epoch']} s", c["seconds"], r["seconds"]))
except (OSError, ValueError, KeyError):
    pass
if {"mobilenetv2-train", "reference-mobilenetv2"} <= succeeded:
    rows.append(("mobilenetv2 1-epoch process s", seconds["mobilenetv2-train"], seconds["reference-mobilenetv2"]))
if rows:
    print("## Side by side (lower is better)\n\n| what | catdog | reference | reference / catdog |\n| --- | ---: | ---: | ---: |")
    for what, c, r in rows:
        print(f"| {what} | {c:.2f} | {r:.2f} | {r / c if c else float('nan'):.2f}x |")
PY
echo "+++ summary ($OUT/summary.md)"
cat "$OUT/summary.md"
exec >&- 2>&-
wait "$tee_pid"
