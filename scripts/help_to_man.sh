#!/usr/bin/env bash
# Writes catdog's man page from the program's own --help output with help2man:
# the top-level help, then one SUBCOMMANDS subsection per subcommand's --help.
#   scripts/help_to_man.sh path/to/catdog catdog.1
set -euo pipefail
program=$(realpath "$1")
out=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Run as plain "catdog" so the usage lines name the command, not the build path.
ln -s "$program" "$work/catdog"
export PATH="$work:$PATH"

subcommands=$("$(dirname "$0")/catdog_subcommands.sh" catdog)
[ -n "$subcommands" ] || { echo "no subcommands in 'catdog --help'" >&2; exit 1; }

# help2man's include format: "[SECTION]" then roff. Each help verbatim (.nf),
# escaped: backslashes, and lines that would read as roff requests.
{
  echo "[SUBCOMMANDS]"
  for name in $subcommands; do
    echo ".SS \"catdog $name\""
    echo ".nf"
    catdog "$name" --help | sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"
    echo ".fi"
  done
  echo "[ENVIRONMENT]"
  echo ".TP"
  echo ".B CATDOG_DATA"
  echo "dataset folder used when --data is not given"
  echo ".TP"
  echo ".B CATDOG_FACE_CASCADE"
  echo "the OpenCV Haar cascade XML for face mode (default: opencv-data's, found in the usual folders)"
  echo ".TP"
  echo ".B NO_COLOR"
  echo "when set (and not empty), no colour in the log (https://no-color.org)"
} > "$work/subcommands.h2m"

help2man --no-info --section 1 --name "train, evaluate and run cat-vs-dog image classifiers" \
  --include "$work/subcommands.h2m" --output "$out" catdog
