#!/usr/bin/env bash
# Configures (once) and builds catdog and its tests into build/.
# Extra arguments go to CMake's configure step, e.g. for an upstream LibTorch:
#   scripts/build.sh -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
# --sanitize builds into build-sanitize/ with ASan + UBSan (glibc's malloc: the
# sanitizers bring their own); run `ctest -L unit` there.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
extra=()
if [ "${1:-}" = "--sanitize" ]; then
  shift
  build=build-sanitize
  extra=(-DCATDOG_SANITIZE=ON -DCATDOG_ALLOCATOR=system -DCMAKE_BUILD_TYPE=Debug)
fi
launcher=()
# ccache, when installed, makes rebuilds in other checkouts of the tree cheap.
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [ ! -f $build/CMakeCache.txt ] || [ $# -gt 0 ]; then
  cmake -S . -B $build -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" "${extra[@]}" "$@"
fi
cmake --build $build -j "$(nproc)"
