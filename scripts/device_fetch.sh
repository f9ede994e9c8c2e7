#!/bin/bash
# Join the pieces scripts/device_train.sh handed back into a snapshot folder.
#   bash scripts/device_fetch.sh <files_at folder> runs/gpu_snapshot
# then check it on this machine before it replaces training/...:
#   python scripts/restore_run.py runs/gpu_snapshot runs/gpu_run
#   motiongpt export-model runs/gpu_run --out runs/gpu_model ... ; benchmarks/model_compare.py ...
set -euo pipefail
FROM=${1:?folder holding snapshot.tar.part*}; DEST=${2:?snapshot folder to write}
mkdir -p "$DEST"
cat "$FROM"/snapshot.tar.part* | tar -xf - -C "$DEST"
echo "snapshot in $DEST: step $(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['step'])" "$DEST/lm/trainer_state.json")"
