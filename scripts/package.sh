#!/usr/bin/env bash
# Builds the Debian package catdog_<version>_<arch>.deb in BUILD_DIR (default
# build/, configured by scripts/build.sh): the binary, its man page and bash
# completion, the licence, and Depends computed from the libraries it links.
#   scripts/package.sh [BUILD_DIR]
# Then: apt-get install ./BUILD_DIR/catdog_*.deb
set -euo pipefail
build=${1:-build}
[ -f "$build/CPackConfig.cmake" ] || { echo "$0: $build is not a configured build folder (run scripts/build.sh)" >&2; exit 1; }
cmake --build "$build" --target catdog catdog_docs -j "$(nproc)"
(cd "$build" && cpack -G DEB)
ls "$build"/catdog_*.deb
