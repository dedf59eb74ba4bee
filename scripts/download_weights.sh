#!/usr/bin/env bash
# Downloads Keras' official ImageNet no-top weight file of a catdog backbone
# into data/weights/ (or DIR), the file `catdog train --model MODEL` looks for.
# Resumes a broken download, verifies size and hash, and does nothing when a
# verified file is already there.
#   scripts/download_weights.sh vgg16|mobilenetv2 [DIR]
set -euo pipefail

usage() { echo "usage: $0 vgg16|mobilenetv2 [DIR (default: data/weights)]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage

base=https://storage.googleapis.com/tensorflow/keras-applications
case "$1" in
  vgg16)
    name=vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
    url=$base/vgg16/$name
    size=58889256
    md5=6d6bbae143d832006294945121d1f1fc  # keras.applications.vgg16 file_hash
    ;;
  mobilenetv2)
    name=mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5
    url=$base/mobilenet_v2/$name
    size=9406464  # keras.applications.mobilenet_v2 pins no hash: the size is all we check
    md5=
    ;;
  *) usage ;;
esac

repo_root=$(cd "$(dirname "$0")/.." && pwd)
dir=${2:-$repo_root/data/weights}
file=$dir/$name
mkdir -p "$dir"

verified() {
  [[ -f $1 && $(stat -c %s "$1") -eq $size ]] || return 1
  [[ -z $md5 ]] || [[ $(md5sum "$1" | cut -d' ' -f1) == "$md5" ]]
}

if verified "$file"; then
  echo "$file: already present and verified"
  exit 0
fi

partial=$file.part
[[ -f $file ]] && mv "$file" "$partial"  # a truncated earlier copy: continue it
if [[ -f $partial && $(stat -c %s "$partial") -ge $size ]] && ! verified "$partial"; then
  rm -f "$partial"  # complete but wrong: start over
fi

status=0
verified "$partial" ||  # an earlier run may have finished the download but not the rename
  curl --fail --location --silent --retry 3 --connect-timeout 20 \
    --continue-at - --output "$partial" "$url" || status=$?
case $status in
  0) ;;
  6|7|28) echo "$0: cannot reach storage.googleapis.com (offline?); download $url into $dir/ by hand, or pass --weights FILE to catdog train" >&2; exit 1 ;;
  *) echo "$0: downloading $url failed (curl exit $status); run this script again to resume" >&2; exit 1 ;;
esac

if ! verified "$partial"; then
  rm -f "$partial"
  echo "$0: $name has the wrong size or MD5 after download (expected $size bytes${md5:+, MD5 $md5}); removed it, run again" >&2
  exit 1
fi
mv "$partial" "$file"
echo "$file: downloaded and verified"
