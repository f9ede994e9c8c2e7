"""Commit-sized snapshot of a training run, so the next session resumes it.

    python scripts/snapshot_run.py runs/v10/lm_run training/v10

Copies a ``train-lm`` output folder without what can be made again or is
too large to commit: the language model's weights in float16 (they load
back into float32), no optimizer state (``train-lm --resume`` restarts AdamW
with a short warm-up, :data:`engine.train.lm_trainer.REWARM_STEPS`), no
token cache (made again from the data and the VQ). The VQ folder is copied
as it is (float32): the tokens the model learned must come out the same.
The trainer state (step, history, settings) travels, so

    motiongpt train-lm --data .cache/data18 --vq training/v10/vq --out training/v10 --resume ...

continues at the step it stopped.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import engine  # noqa: E402,F401  (first: the engine's process policy must precede torch)

SKIP = {"optimizer.safetensors", "cache"}


def snapshot(run: Path, dest: Path) -> list[Path]:
    import torch
    from engine import checkpoint as ckpt
    if not (run / "lm" / ckpt.MODEL_FILE).is_file():
        raise SystemExit(f"{run} is not a train-lm folder (no lm/{ckpt.MODEL_FILE})")
    if dest.exists():
        shutil.rmtree(dest)
    written = []
    for path in sorted(run.rglob("*")):
        rel = path.relative_to(run)
        if path.is_dir() or rel.parts[0] in SKIP or path.name in SKIP or "best" in rel.parts:
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel == Path("lm") / ckpt.MODEL_FILE:
            ckpt.save_weights(target, ckpt.load_weights(path), {"format": "pt"}, dtype=torch.float16)
        elif rel.parts[0] == "vq" and path.name in ("optimizer.safetensors", "quantizer_ema.safetensors",
                                                     "train_log.jsonl", "trainer_state.json"):
            continue
        else:
            shutil.copy2(path, target)
        written.append(target)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("dest", type=Path)
    args = parser.parse_args()
    files = snapshot(args.run, args.dest)
    size = sum(f.stat().st_size for f in files) / 1e6
    print(f"wrote {len(files)} files, {size:.1f} MB, to {args.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
