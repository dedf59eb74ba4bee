#!/usr/bin/env bash
# Builds and runs one libFuzzer target for a given time, one process at a time.
#   scripts/fuzz.sh TARGET SECONDS   TARGET: decode_image | load_checkpoint | read_checkpoint_meta | read_keras_h5
#                                            | serve_request
#   scripts/fuzz.sh all SECONDS      each target in turn, SECONDS each
# Needs clang with libFuzzer (scripts/install_deps.sh --fuzz). Builds into
# build-fuzz/ (the layers the target links, ASan-instrumented; the normal build/
# is untouched),
# keeps the growing corpus in build-fuzz/corpus/TARGET (seeded with tiny files
# of every kind plus two real photos from ../shared when present) and writes
# each crashing input to build-fuzz/findings/TARGET/. A crash does not stop the
# run: the fuzzer starts again, and the summary at the end counts them. Keep a
# crashing input as a regression test in tests/fuzz_regressions/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(decode_image load_checkpoint read_checkpoint_meta read_keras_h5 serve_request)
if [ $# -ne 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh ${targets[*]// /|}|all SECONDS" >&2
  exit 2
fi
if [ "$1" = all ]; then
  for target in "${targets[@]}"; do "$0" "$target" "$2" || echo "fuzz.sh $target failed"; done
  exit 0
fi
target=$1 seconds=$2
[[ " ${targets[*]} " == *" $target "* ]] || { echo "unknown target $target (${targets[*]})" >&2; exit 2; }

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCATDOG_FUZZ=ON \
    -DCATDOG_BUILD_TESTS=OFF "${launcher[@]}"
fi
# Two jobs at most: the machine's cores are shared.
cmake --build build-fuzz -j2 --target "fuzz_$target" fuzz_make_seeds

corpus=build-fuzz/corpus/$target findings=build-fuzz/findings/$target
# LibTorch and OpenCV keep allocations for the process' lifetime: not leaks of ours.
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1
if [ ! -d "$corpus" ]; then
  build-fuzz/fuzz/fuzz_make_seeds build-fuzz/seeds
  mkdir -p "$corpus"
  cp build-fuzz/seeds/"$target"/* "$corpus"/
  photos=../shared/data/catdog-dev
  if [ "$target" = decode_image ] && [ -d "$photos" ]; then  # the two smallest real photos
    find "$photos" -type f -name '*.jpg' -printf '%s %p\n' | sort -n | sed -n 1,2p | cut -d' ' -f2- |
      while read -r photo; do cp "$photo" "$corpus/real-$(basename "$photo")"; done
  fi
fi
mkdir -p "$findings"
echo "fuzzing $target for ${seconds}s: corpus $corpus, findings $findings"
# A crash ends a libFuzzer run (its input lands in $findings): start again
# until the time is used. (-fork mode would go on by itself, but restarts a
# process, LibTorch and all, every few seconds.)
end=$((SECONDS + seconds)) runs=0
while [ $SECONDS -lt $end ]; do
  runs=$((runs + 1))
  "build-fuzz/fuzz/fuzz_$target" "$corpus" -max_total_time=$((end - SECONDS)) -timeout=20 -rss_limit_mb=3072 \
    -malloc_limit_mb=2048 -artifact_prefix="$findings/" -print_final_stats=1 > "build-fuzz/$target.$runs.log" 2>&1 || true
  grep -a -E '^(#[0-9]+.*(pulse|DONE)|==[0-9]+==|SUMMARY|stat::number_of_executed_units)' "build-fuzz/$target.$runs.log" | tail -3
done
# Each run's last status line holds its executions.
executions=$(for log in build-fuzz/"$target".*.log; do grep -a -o -E '^#[0-9]+' "$log" | tail -1; done | tr -d '#' |
  awk '{ total += $1 } END { print total + 0 }')
echo "$target: ${seconds}s, $runs run(s), about $executions executions; findings: $(find "$findings" -type f | wc -l) file(s) in $findings"
