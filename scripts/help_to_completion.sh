#!/usr/bin/env bash
# Writes catdog's bash completion from the program's own --help output (the
# flags are declared once, in the CLI): subcommands, each one's flags, and the
# values of flags with a fixed choice ("--device {auto,cpu,cuda}=auto"); the
# global flags are offered after a subcommand too.
#   scripts/help_to_completion.sh path/to/catdog catdog.bash
set -euo pipefail
program=$1
exec > "$2"

# The subcommand names: first word of each line under "Subcommands:".
subcommands=$("$(dirname "$0")/catdog_subcommands.sh" "$program")
[ -n "$subcommands" ] || { echo "no subcommands in '$program --help'" >&2; exit 1; }

# "-v,--verbose" and "--device {auto,cpu,cuda}=auto" -> flag names; choices as "flag=a:b:c".
flags_of() { "$1" "${@:2}" --help | awk '/^  -/ { n = split($1, names, ","); for (i = 1; i <= n; ++i) print names[i] }'; }
choices_of() {
  "$1" "${@:2}" --help | awk '/^  -[^ ]* \{/ {
    n = split($1, names, ","); match($2, /\{[^}]*\}/); values = substr($2, RSTART + 1, RLENGTH - 2)
    gsub(",", ":", values); for (i = 1; i <= n; ++i) print names[i] "=" values }'
}

cat <<'HEAD'
# bash completion for catdog, generated from `catdog --help` by scripts/help_to_completion.sh.
_catdog() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} subcommand="" word
HEAD
echo "  local subcommands=\"$(echo $subcommands)\""
echo "  for word in \"\${COMP_WORDS[@]:1:COMP_CWORD-1}\"; do"
echo "    case \" \$subcommands \" in *\" \$word \"*) subcommand=\$word; break ;; esac"
echo "  done"
global_flags=$(flags_of "$program" | grep -vx -e -h -e --help -e --version)
global_choices=$(choices_of "$program")
echo "  local flags choices=\"\""
echo "  case \$subcommand in"
echo "    \"\") flags=\"$(echo $(flags_of "$program"))\""
echo "       choices=\"$(echo $(choices_of "$program"))\" ;;"
for name in $subcommands; do
  echo "    $name) flags=\"$(echo $(flags_of "$program" "$name") $global_flags)\""
  echo "       choices=\"$(echo $(choices_of "$program" "$name") $global_choices)\" ;;"
done
cat <<'TAIL'
  esac
  # A flag with fixed values: offer them.
  local choice
  for choice in $choices; do
    if [[ ${choice%%=*} == "$prev" ]]; then
      local values=${choice#*=}
      COMPREPLY=($(compgen -W "${values//:/ }" -- "$cur"))
      return
    fi
  done
  if [[ -z $subcommand && $cur != -* ]]; then
    COMPREPLY=($(compgen -W "$subcommands" -- "$cur"))
  elif [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))  # files and folders: images, datasets, checkpoints
  fi
}
complete -o filenames -o bashdefault -F _catdog catdog
TAIL
