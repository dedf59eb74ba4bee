#!/usr/bin/env bash
# CTest "package": `cpack -G DEB` builds catdog_<version>_<arch>.deb holding the
# binary, man page (when help2man was found), bash completion and licence, with
# Depends computed by dpkg-shlibdeps (LibTorch and OpenCV among them), and apt
# resolves its installation.
#   tests/package_test.sh BUILD_DIR
set -euo pipefail
build=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$out" >"$out/cpack.log" 2>&1) || { cat "$out/cpack.log" >&2; fail "cpack -G DEB failed"; }
debs=("$out"/catdog_*_"$(dpkg --print-architecture)".deb)
[ -f "${debs[0]}" ] || fail "no catdog_<version>_$(dpkg --print-architecture).deb in $(ls "$out")"
deb=${debs[0]}
version=$(grep -m1 '^CMAKE_PROJECT_VERSION:' "$build/CMakeCache.txt" | cut -d= -f2)
[ "$(basename "$deb")" = "catdog_${version}_$(dpkg --print-architecture).deb" ] || fail "unexpected name $(basename "$deb")"

contents=$(dpkg-deb -c "$deb")
has() { grep -q " \./$1\$" <<<"$contents" || fail "$(basename "$deb") holds no /$1"; }
has usr/bin/catdog
has usr/share/bash-completion/completions/catdog
has usr/share/doc/catdog/copyright
if grep -q '^HELP2MAN:FILEPATH=.*help2man$' "$build/CMakeCache.txt"; then has usr/share/man/man1/catdog.1; fi

for field in Package Version Architecture Maintainer Description Depends; do
  [ -n "$(dpkg-deb -f "$deb" "$field")" ] || fail "the control file has no $field"
done
depends=$(dpkg-deb -f "$deb" Depends)
for library in libtorch libopencv-core libc6; do
  [[ $depends == *"$library"* ]] || fail "Depends does not list $library: $depends"
done

# apt resolves the package's dependencies (nothing is installed).
simulation=$(apt-get install --simulate --no-install-recommends "$deb" 2>&1) || { echo "$simulation" >&2; fail "apt-get install --simulate failed"; }
grep -q '^Inst catdog ' <<<"$simulation" || { echo "$simulation" >&2; fail "apt would not install catdog"; }
echo "$(basename "$deb"): contents, control fields and apt resolution checked; Depends: $depends"
