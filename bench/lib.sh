# Shared by the bench/*.sh scripts (sourced).
PY=/usr/bin/python3  # Debian's python3-torch, the reference
# REFERENCE_TCMALLOC=1: the reference as an expert runs it, with tcmalloc preloaded
# (catdog links it; plain PyTorch pays glibc's page faults on every batch).
if [ -n "${REFERENCE_TCMALLOC:-}" ]; then
  PY="env LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 $PY"
fi
CATDOG=${CATDOG:-build/catdog}

# Median of the numbers on stdin, one per line.
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# Wall seconds of a command, its output discarded.
seconds() {
  local t0 t1
  t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N)
  echo "scale=4; ($t1 - $t0) / 1000000000" | bc
}
