"""Commit-sized snapshots of a training run, and putting a run back together.

A session trains in ``runs/`` (ignored by git) and commits a snapshot under
``training/`` so the next session can carry on. The repository must stay
small enough to travel whole to a lent GPU machine (64 MiB, tracked files
included), so a snapshot holds only what the shipped model folder does not:

* the language model's weights in float16 (they load back into float32) --
  left out when they are the shipped model's own (the run was exported as
  ``models/default``);
* the motion tokenizer's config and statistics, its weights left out when
  they are the shipped model's (the shipped copy is float16, so they are
  compared in float16);
* the token cache (``cache/tokens_*.npz``, a few hundred KB), so training
  goes on from the very tokens it learned and never re-encodes the data
  with float16 tokenizer weights;
* the trainer state (step, history, settings), the text tokenizer and the
  configs; no optimizer state (``train-lm --resume`` restarts AdamW with a
  short warm-up, :data:`engine.train.lm_trainer.REWARM_STEPS`).

What was left out is named in ``base.json`` with the SHA-256 of the shipped
file it came from: :func:`restore` takes it from there, and refuses when the
shipped model has changed since (then the snapshot's commit still has it:
``git checkout <commit> -- models/default`` into a scratch copy).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from .. import checkpoint as ckpt
from ..errors import MotionGPTError
from ..models.bundle import file_sha256

BASE_FILE = "base.json"
SKIPPED_VQ_FILES = ("optimizer.safetensors", "quantizer_ema.safetensors", "train_log.jsonl", "trainer_state.json")
SKIPPED = ("optimizer.safetensors", "best")
WEIGHTS = {"lm": Path("lm") / ckpt.MODEL_FILE, "vq": Path("vq") / ckpt.MODEL_FILE}


def _same_in_float16(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    if set(a) != set(b):
        return False
    return all(a[k].shape == b[k].shape and torch.equal(a[k].to(torch.float16), b[k].to(torch.float16))
               for k in a)


def snapshot(run: str | Path, dest: str | Path, base: str | Path | None = None) -> list[Path]:
    """Write the snapshot of train-lm folder ``run`` to ``dest`` (replaced);
    weights equal to those of model folder ``base`` are left out (module
    docstring). Returns the files written."""
    run, dest = Path(run), Path(dest)
    if not (run / WEIGHTS["lm"]).is_file():
        raise MotionGPTError(f"{run} is not a train-lm folder (no {WEIGHTS['lm']})")
    if dest.exists():
        shutil.rmtree(dest)
    shared: dict[str, dict[str, str]] = {}
    if base is not None:
        for part, rel in WEIGHTS.items():
            theirs = Path(base) / rel
            if theirs.is_file() and _same_in_float16(ckpt.load_weights(run / rel), ckpt.load_weights(theirs)):
                shared[part] = {"file": str(rel), "sha256": file_sha256(theirs)}
    written = []
    for path in sorted(run.rglob("*")):
        rel = path.relative_to(run)
        if path.is_dir() or any(p in SKIPPED for p in rel.parts):
            continue
        if rel.parts[0] == "vq" and path.name in SKIPPED_VQ_FILES:
            continue
        if any(rel == WEIGHTS[part] for part in shared):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel == WEIGHTS["lm"]:
            ckpt.save_weights(target, ckpt.load_weights(path), {"format": "pt"}, dtype=torch.float16)
        else:
            shutil.copy2(path, target)
        written.append(target)
    if shared:
        (dest / BASE_FILE).write_text(json.dumps({"folder": str(base), "weights": shared}, indent=1) + "\n")
        written.append(dest / BASE_FILE)
    return written


def restore(snap: str | Path, run: str | Path, base: str | Path | None = None) -> Path:
    """A train-lm folder ``run`` (replaced) from snapshot ``snap``, the
    weights it left out taken from the shipped folder it names (or
    ``base``), so ``train-lm --out RUN --resume`` carries on at its step."""
    snap, run = Path(snap), Path(run)
    if not snap.is_dir():
        raise MotionGPTError(f"{snap}: no such snapshot folder")
    note = json.loads((snap / BASE_FILE).read_text()) if (snap / BASE_FILE).is_file() else {"weights": {}}
    source = Path(base or note.get("folder") or "")
    for part, entry in note["weights"].items():
        theirs = source / entry["file"]
        if not theirs.is_file() or file_sha256(theirs) != entry["sha256"]:
            raise MotionGPTError(f"{snap} takes its {part} weights from {theirs}, which is missing or has changed "
                                 "since the snapshot was made; check out the snapshot's commit of that folder "
                                 "into a scratch copy and pass it as the base")
    if run.exists():
        shutil.rmtree(run)
    shutil.copytree(snap, run, ignore=shutil.ignore_patterns(BASE_FILE))
    for part, entry in note["weights"].items():
        state = ckpt.load_weights(source / entry["file"])
        ckpt.save_weights(run / WEIGHTS[part], state, {"format": "pt"},
                          dtype=torch.float32 if part == "vq" else None)
    return run
