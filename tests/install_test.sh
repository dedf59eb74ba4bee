#!/usr/bin/env bash
# CTest "install": `cmake --install BUILD --prefix TMP` puts the program, its man
# page (when help2man was found) and its bash completion in place, and the
# completion offers what `catdog --help` lists.
#   tests/install_test.sh BUILD_DIR
set -euo pipefail
build=$1
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >/dev/null
program=$prefix/bin/catdog
completion=$prefix/share/bash-completion/completions/catdog
man_page=$prefix/share/man/man1/catdog.1
[ -x "$program" ] || fail "no executable $program"
[ -f "$completion" ] || fail "no bash completion $completion"
subcommands=$("$(dirname "$0")/../scripts/catdog_subcommands.sh" "$program")
[ -n "$subcommands" ] || fail "no subcommands in catdog --help"
if grep -q '^HELP2MAN:FILEPATH=.*help2man$' "$build/CMakeCache.txt"; then
  [ -f "$man_page" ] || fail "no man page $man_page"
  for name in $subcommands; do
    grep -q "^\.SS \"catdog $name\"" "$man_page" || fail "the man page has no section for 'catdog $name'"
  done
  grep -q '^Usage: catdog train' "$man_page" || fail "the man page's usage lines do not say plain 'catdog'"
  for section in EXAMPLES "EXIT STATUS"; do
    grep -Eq "^\.SH \"?$section\"?\$" "$man_page" || fail "the man page has no $section section"
  done
  ! grep -q -e '\[1 - ' -e 'INT:' "$man_page" || fail "the man page shows this machine's ranges or CLI11's types"
else
  echo "help2man was not found at configure time: man page not checked"
fi

# What bash offers for the words typed so far ("" = the word being completed).
offers() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _catdog; echo "${COMPREPLY[*]}"' \
    _ "$completion" "$@"
}
bash -c "source '$completion'; complete -p catdog" | grep -q -- '-F _catdog' || fail "'complete -p catdog' shows no _catdog"
[ "$(offers catdog "")" = "$(echo $subcommands)" ] || fail "'catdog <TAB>' offers '$(offers catdog "")'"
[ "$(offers catdog pre)" = "predict" ] || fail "'catdog pre<TAB>' offers '$(offers catdog pre)'"
for name in $subcommands; do
  flags=$(offers catdog "$name" --)
  for flag in $("$program" "$name" --help | awk '/^  -/ { n = split($1, f, ","); for (i = 1; i <= n; ++i) if (f[i] ~ /^--/) print f[i] }'); do
    [[ " $flags " == *" $flag "* ]] || fail "'catdog $name --<TAB>' does not offer $flag"
  done
done
[ "$(offers catdog train --ep)" = "--epochs" ] || fail "'catdog train --ep<TAB>' offers '$(offers catdog train --ep)'"
[ "$(offers catdog train --cache "")" = "auto memory disk off" ] ||
  fail "'catdog train --cache <TAB>' offers '$(offers catdog train --cache "")'"
[ "$(offers catdog train --no-a)" = "--no-augment" ] || fail "'catdog train --no-a<TAB>' offers '$(offers catdog train --no-a)'"
[ "$(offers catdog train --thr)" = "--threads" ] || fail "'catdog train --thr<TAB>' offers '$(offers catdog train --thr)'"
[ "$(offers catdog eval --device "")" = "auto cpu cuda" ] ||
  fail "'catdog eval --device <TAB>' offers '$(offers catdog eval --device "")'"
! grep -q -e '{false}' -e '{true}' "$completion" || fail "the completion offers CLI11's flag values ({false})"
echo "installed and checked under $prefix"
