#!/usr/bin/env bash
# Times a scratch-CNN training step under each BLAS Debian offers (reference,
# OpenBLAS pthread, OpenBLAS OpenMP), alternating rounds; prints medians in ms.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
here=$(dirname "$0")
lib=/usr/lib/x86_64-linux-gnu
threads=${1:-$(nproc)}
rounds=${2:-3}
declare -A flavours=([reference]=$lib/blas [openblas-pthread]=$lib/openblas-pthread [openblas-openmp]=$lib/openblas-openmp)
declare -A results
for ((r = 0; r < rounds; r++)); do
  for name in reference openblas-pthread openblas-openmp; do
    [ -e "${flavours[$name]}/libblas.so.3" ] || continue
    results[$name]+="$(LD_LIBRARY_PATH=${flavours[$name]} $PY "$here/blas_flavour.py" "$threads") "
  done
done
for name in reference openblas-pthread openblas-openmp; do
  [ -n "${results[$name]:-}" ] || continue
  echo "$name: step ms per round: ${results[$name]}median $(tr ' ' '\n' <<<"${results[$name]}" | sed '/^$/d' | median)"
done
