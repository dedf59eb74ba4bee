#!/usr/bin/env bash
# Command (2) of the README: install, build, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
cd build && ctest --output-on-failure -j 2
