#!/usr/bin/env bash
# Face mode's default cascade and search settings, measured (BENCHMARKS.md, "Face mode"):
# subject found on bench/face_photos.tsv, false faces on a sample of the pet photos.
#   bench/face_cascades.sh [PETS_DIR] [MAX_PETS]
# Needs opencv-doc (sample photos) and opencv-data (cascades); run from a built tree.
set -euo pipefail
cd "$(dirname "$0")/.."
pets=${1:-../shared/data/catdog-dev}
max_pets=${2:-600}
cmake --build build --target bench_face_cascades -j2 >/dev/null
build/bench/bench_face_cascades bench/face_photos.tsv "$pets" "$max_pets"
