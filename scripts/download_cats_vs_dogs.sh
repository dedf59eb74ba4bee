#!/usr/bin/env bash
# Downloads Microsoft's cats_vs_dogs archive (the one TFDS's cats_vs_dogs uses)
# and unpacks it into DIR/PetImages/{Cat,Dog}, the layout `catdog --data DIR`
# reads. Resumes a broken download, verifies size and SHA-256, and does nothing
# when DIR/PetImages is already there.
#   scripts/download_cats_vs_dogs.sh [DIR]   (default: $CATDOG_DATA, else data/ of the repo)
set -euo pipefail

[[ $# -le 1 ]] || { echo "usage: $0 [DIR (default: \$CATDOG_DATA, else data/)]" >&2; exit 2; }

url=https://download.microsoft.com/download/3/E/1/3E1C3F21-ECDB-4869-8368-6DEBA77B919F/kagglecatsanddogs_5340.zip
size=824887076
sha256=b7974bd00a84a99921f36ee4403f089853777b5ae8d151c76a86e64900334af9

repo_root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-${CATDOG_DATA:-$repo_root/data}}
zip=$dir/kagglecatsanddogs_5340.zip
mkdir -p "$dir"

# PetImages only appears by a rename after a complete unpack (below).
if [[ -d $dir/PetImages/Cat && -d $dir/PetImages/Dog ]]; then
  echo "$dir/PetImages: already unpacked"
  exit 0
fi

verified() {
  [[ -f $zip && $(stat -c %s "$zip") -eq $size ]] && [[ $(sha256sum "$zip" | cut -d' ' -f1) == "$sha256" ]]
}

if [[ ! -f $zip || $(stat -c %s "$zip") -lt $size ]]; then
  status=0  # probe first: offline should be one line, not one curl error per retry
  curl --silent --head --fail --location --retry 2 --connect-timeout 20 "$url" >/dev/null || status=$?
  if [[ $status -eq 0 ]]; then
    progress=--silent
    [[ -t 2 ]] && progress=--progress-bar
    curl --fail --location $progress --retry 3 --connect-timeout 20 --continue-at - --output "$zip" "$url" ||
      status=$?
  fi
  case $status in
    0) ;;
    6|7|28) echo "$0: cannot reach download.microsoft.com (offline?); download $url into $dir/ by hand and run this again" >&2; exit 1 ;;
    *) echo "$0: downloading $url failed (curl exit $status); run this script again to resume" >&2; exit 1 ;;
  esac
fi
echo "verifying $zip (SHA-256)"
if ! verified; then
  rm -f "$zip"
  echo "$0: $zip has the wrong size or SHA-256 (expected $size bytes, $sha256); removed it, run again" >&2
  exit 1
fi

echo "unpacking into $dir/PetImages"
unpacking=$dir/.unpacking
rm -rf "$unpacking"
unzip -q "$zip" -d "$unpacking"
[[ -d $unpacking/PetImages/Cat && -d $unpacking/PetImages/Dog ]] ||
  { echo "$0: $zip did not hold PetImages/Cat and PetImages/Dog" >&2; exit 1; }
for extra in "$unpacking"/*; do [[ $extra == */PetImages ]] || mv -f "$extra" "$dir"/; done  # licence, readme
mv -T "$unpacking/PetImages" "$dir/PetImages" ||
  { echo "$0: $dir/PetImages exists but lacks Cat/ or Dog/; move it away and run again" >&2; exit 1; }
rm -rf "$unpacking"
rm -f "$zip"
echo "$dir/PetImages: $(find "$dir/PetImages/Cat" -name '*.jpg' | wc -l) cat and $(find "$dir/PetImages/Dog" -name '*.jpg' | wc -l) dog files (the archive was removed)"
