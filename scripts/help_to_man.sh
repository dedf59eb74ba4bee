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
  echo "[EXAMPLES]"
  example() { echo ".TP"; echo ".B $1"; echo "$2"; }
  example "catdog train --model mobilenetv2 --fine-tune --data photos" \
    "fine-tune MobileNetV2 (ImageNet weights fetched on first use) on a folder with one subfolder per class"
  example "catdog eval --checkpoint runs/latest" "the latest run's best checkpoint on the test split of its own data"
  example "catdog predict photo.jpg" "how much dog and how much cat photo.jpg is, by the latest run"
  example "catdog train --out runs/x --resume" "continue run x from its last epoch, with its recipe and data"
  example "catdog train --config runs/x/settings.json --out runs/y" "repeat run x's recipe as run y"
  example "catdog serve --port 8000" "a web page and JSON API on http://127.0.0.1:8000/"
  echo "[EXIT STATUS]"
  echo ".TP"; echo ".B 0"; echo "done"
  echo ".TP"; echo ".B 1"; echo "an error (one line on standard error says what to do), or some inputs of predict failed"
  echo ".TP"; echo ".B 2"; echo "a usage error: an unknown subcommand or flag, or a flag's value out of range"
  echo ".TP"; echo ".B 130"; echo "train stopped by Ctrl+C or SIGTERM; the run continues with --resume"
  echo "[ENVIRONMENT]"
  echo ".TP"
  echo ".B CATDOG_DATA"
  echo "dataset folder used when --data is not given (and, for eval and --resume, the run's own folder is gone)"
  echo ".TP"
  echo ".B CATDOG_FACE_CASCADE"
  echo "the OpenCV Haar cascade XML for face mode (default: opencv-data's, found in the usual folders)"
  echo ".TP"
  echo ".B CATDOG_WEIGHTS_URL"
  echo "a URL prefix that replaces the default host of the ImageNet weights (a mirror; the checksums stay catdog's)"
  echo ".TP"
  echo ".B XDG_CACHE_HOME"
  echo "the downloaded weights go to \$XDG_CACHE_HOME/catdog/weights (default ~/.cache/catdog/weights)"
  echo ".TP"
  echo ".B COLUMNS"
  echo "the width progress bars fit on a terminal (default: the terminal's own)"
  echo ".TP"
  echo ".B NO_COLOR"
  echo "when set (and not empty), no colour in the log (https://no-color.org)"
} > "$work/subcommands.h2m"

help2man --no-info --section 1 --name "train, evaluate and run cat-vs-dog image classifiers" \
  --include "$work/subcommands.h2m" --output "$out" catdog
