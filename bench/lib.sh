# Shared by the bench/*.sh scripts (sourced).
PY=/usr/bin/python3  # Debian's python3-torch, the reference
CATDOG=${CATDOG:-build/catdog}

# Median of the numbers on stdin, one per line.
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# Wall seconds of a command, its output discarded.
seconds() {
  local t0 t1
  t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N)
  echo "scale=4; ($t1 - $t0) / 1000000000" | bc
}
