#!/bin/bash
# Continue a committed training run on a lent GPU machine for a fixed time,
# and hand back its snapshot in pieces the device tool can return.
#
# Here, once per session (see docs/training.md, "On a lent GPU"):
#   python scripts/compact_data.py .cache/data18 .cache/compact18
# The device tool's run, from the repository root (carry: [".cache/compact18"]):
#   bash scripts/device_train.sh training/v11 .cache/compact18 420 12000 [train-lm options...]
# Back here:
#   bash scripts/device_fetch.sh <files_at folder> runs/gpu_snapshot
#
# Arguments: snapshot folder, compact data, seconds of training (the run is
# stopped with SIGTERM and saves a checkpoint at that step), the schedule's
# total stage-2 steps, then train-lm options (default: the snapshot's own
# recipe: --preset small --stage1-steps 0 --lr 3e-4 --warmup 100 ...).
set -euo pipefail
SNAPSHOT=${1:?snapshot folder}; DATA=${2:?compact data folder}; BUDGET=${3:?seconds}; STEPS=${4:?total steps}
shift 4
OPTIONS=("$@")
if [ ${#OPTIONS[@]} -eq 0 ]; then
  OPTIONS=(--preset small --stage1-steps 0 --lr 3e-4 --warmup 100 --val-every 200 --balance-power 0.2
           --caption-dropout 0.1)
fi
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-/tmp/device_out}
RUN=${RUN:-/tmp/device_run}
mkdir -p "$OUT"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
"$PY" scripts/restore_run.py "$SNAPSHOT" "$RUN"
set +e
timeout -s TERM "$BUDGET" "$PY" -m engine train-lm --data "$DATA" --vq "$RUN/vq" --out "$RUN" --resume \
    --device "$DEVICE" --stage2-steps "$STEPS" "${OPTIONS[@]}" 2>&1 | tr '\r' '\n' | grep -v "^train-lm: " \
    | tee "$OUT/train.log"
set -e
"$PY" scripts/snapshot_run.py "$RUN" /tmp/device_snapshot
tar -cf /tmp/device_snapshot.tar -C /tmp/device_snapshot .
split -b 15m -d /tmp/device_snapshot.tar "$OUT/snapshot.tar.part"
ls -l "$OUT"
