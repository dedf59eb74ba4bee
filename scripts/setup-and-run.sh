#!/usr/bin/env bash
# Command (1) of the README: install, build, then the main job on the dataset:
# train (default: the scratch CNN, the recipe's first model), evaluate on the
# test split, predict a few test images.
#   CATDOG_DATA   dataset folder (default: data/, downloaded there when absent)
#   CATDOG_MODEL  scratch (default), mobilenetv2 or vgg16
#   CATDOG_WEIGHTS  Keras no-top .h5 for mobilenetv2/vgg16 (default: Keras' file, downloaded once
#                   into ~/.cache/catdog/weights)
#   CATDOG_EPOCHS   epochs (default: the recipe's)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh

data=${CATDOG_DATA:-data}
if ! build/catdog data --data "$data" -q >/dev/null 2>&1; then
  if [ -z "${CATDOG_DATA:-}" ]; then
    scripts/download_cats_vs_dogs.sh data || {
      echo "catdog: no dataset in data/ and the download failed: point CATDOG_DATA (or --data DIR) at a folder with cat/ and dog/ subfolders" >&2
      exit 1
    }
  else
    build/catdog data --data "$data" >/dev/null  # prints why, in one line
  fi
fi

model=${CATDOG_MODEL:-scratch}
run=runs/$model-main
train_args=(--model "$model" --data "$data" --out "$run")
[ -n "${CATDOG_WEIGHTS:-}" ] && train_args+=(--weights "$CATDOG_WEIGHTS")
[ -n "${CATDOG_EPOCHS:-}" ] && train_args+=(--epochs "$CATDOG_EPOCHS")
[ -f "$run/last.ckpt" ] && train_args+=(--resume)

build/catdog train "${train_args[@]}"
build/catdog eval --checkpoint "$run" --data "$data" --grid "$run/eval/grid.png"
# Two photos from each class folder, as a user would pass them.
samples=()
while IFS= read -r class_dir; do
  mapfile -t -O "${#samples[@]}" samples < <(find -L "$class_dir" -maxdepth 1 -type f -iname '*.jp*g' | sort | head -n 2)
done < <(find -L "$data" -maxdepth 2 -type d \( -iname cat -o -iname cats -o -iname dog -o -iname dogs \) | sort)
build/catdog predict --checkpoint "$run" "${samples[@]}"
