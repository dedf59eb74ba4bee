#!/usr/bin/env bash
# Prints the subcommands that `PROGRAM --help` lists under "Subcommands:", one a line.
#   scripts/catdog_subcommands.sh path/to/catdog
set -euo pipefail
"$1" --help | awk '/^[A-Za-z].*:$/ { in_list = ($0 == "Subcommands:"); next } in_list && /^  [a-z]/ { print $1 }'
