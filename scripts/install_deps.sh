#!/usr/bin/env bash
# Installs catdog's build and run dependencies from Debian 12's packages.
# Idempotent: packages already present are left as they are.
#   scripts/install_deps.sh          build, run and test
#   scripts/install_deps.sh --bench  also the PyTorch references used by bench/
#   scripts/install_deps.sh --fuzz   also clang and libFuzzer for scripts/fuzz.sh
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libtorch-dev libopencv-dev opencv-data libcli11-dev libspdlog-dev
  libgtest-dev googletest libhdf5-dev nlohmann-json3-dev
  # libjpeg-turbo directly: plain JPEGs decode straight to RGB (src/preprocess.cpp)
  libjpeg62-turbo-dev
  # zlib's crc32: checkpoints carry a checksum of every tensor (src/checkpoint.cpp)
  zlib1g-dev
  # Gloo's headers: c10d's ProcessGroupGloo.hpp includes them (src/distributed.cpp)
  libgloo-dev
  # LibTorch's dense layers go through libblas.so.3: without this Debian links
  # the reference BLAS (several times slower). The OpenMP flavour shares
  # LibTorch's OpenMP thread pool instead of adding its own threads
  # (bench/blas_flavour.sh measures the three).
  libopenblas0-openmp
  # tcmalloc, linked into catdog: glibc's malloc returns every freed tensor to
  # the kernel (CMakeLists.txt, bench/allocator_bench.sh)
  libgoogle-perftools-dev
  # the man page is generated from `catdog --help` at build time
  help2man
  # OpenCV's sample photos: the face-mode test (messi5.jpg) and bench/face_cascades.sh
  opencv-doc
  # catdog serve: the HTTP server library (header + shared library)
  libcpp-httplib-dev
  # ImageNet weights downloaded on first use (src/base/download.cpp): libcurl
  # for the transfer, OpenSSL's EVP for the MD5 check
  libcurl4-openssl-dev libssl-dev
  # test_serve, test_export: a headless browser for the pages
  chromium chromium-driver
  # catdog export --format onnx: the ONNX protobuf classes and onnx::checker (src/export/)
  libonnx-dev libprotobuf-dev
  # test_export only: the TorchScript exports are run by Python's torch.jit.load
  python3-torch
)
[ "${1:-}" = "--bench" ] && packages+=(python3-torch python3-torchvision python3-h5py hyperfine libjemalloc2
  # bench/serve_bench.sh: the Flask reference service and the load generator
  python3-flask python3-opencv wrk)
# clang 14 with its libFuzzer and ASan runtimes: the fuzz targets in fuzz/
[ "${1:-}" = "--fuzz" ] && packages+=(clang libclang-rt-14-dev)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# ONNX Runtime from npm, pinned, into .deps/node_modules (ignored by git):
# onnxruntime-web travels in every `catdog export --format web` folder, and
# test_export runs the ONNX exports with onnxruntime-node. --ignore-scripts: its
# install script fetches optional GPU parts from a host that may be out of reach;
# the CPU library for linux-x64 is in the package itself.
onnxruntime_version=1.20.1
command -v npm >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm
deps="$(cd "$(dirname "$0")/.." && pwd)/.deps"
for package in onnxruntime-web onnxruntime-node; do
  if ! grep -qs "\"version\": \"$onnxruntime_version\"" "$deps/node_modules/$package/package.json"; then
    npm install --prefix "$deps" --ignore-scripts --save-exact --no-audit --no-fund \
      "onnxruntime-web@$onnxruntime_version" "onnxruntime-node@$onnxruntime_version"
    break
  fi
done

lib=/usr/lib/x86_64-linux-gnu/openblas-openmp
for name in libblas liblapack; do
  current=$(readlink -f "/etc/alternatives/$name.so.3-x86_64-linux-gnu" 2>/dev/null || true)
  if [ "$current" != "$(readlink -f "$lib/$name.so.3")" ]; then
    as_root update-alternatives --set "$name.so.3-x86_64-linux-gnu" "$lib/$name.so.3"
  fi
done
