"""``motiongpt caption DIR --out captions.jsonl``: what is in a mocap library.

Every BVH under the folder (any biped skeleton, :mod:`engine.pipeline.any_bvh`)
gets one JSON line in the caption format ``build-data --bvh-library`` reads
(``id``, ``file``, ``description``), with the model's ``confidence`` (the
geometric mean of the caption tokens' probabilities), the take's ``seconds``
and, for takes longer than the model's 10 s window, one caption per window
with its times (``windows``) and the commonest of them as the description.
A file that cannot be read gets a line with ``error`` (the reason) and the
run goes on; ``build-data`` lists such lines as not used. Files already in
the output are skipped, so a stopped run continues where it was.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import MotionGPTError
from ..motion import features as F
from ..motion import skeleton as sk
from ..motion.resample import resample_linear
from . import any_bvh

WINDOW_SECONDS = 10.0
"""The longest motion the model captions at once."""
MIN_WINDOW_SECONDS = 1.0
"""A shorter tail of a long take joins the window before it."""


@dataclass
class LibrarySummary:
    captioned: int = 0
    failed: int = 0
    skipped: int = 0
    problems: dict[str, str] = field(default_factory=dict)


def clip_id_for(rel: str) -> str:
    """A library-unique id from a file's path below the library root."""
    return rel[:-4].replace("/", "_").replace("\\", "_") if rel.lower().endswith(".bvh") else rel


def _done(out: Path) -> set[str]:
    if not out.is_file():
        return set()
    done = set()
    for line in out.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("file"), str):
            done.add(record["file"])
    return done


def _windows(frames: int) -> list[tuple[int, int]]:
    """(start, stop) frame ranges at 20 fps: 10 s each, a short tail merged."""
    size, least = int(WINDOW_SECONDS * sk.FPS), int(MIN_WINDOW_SECONDS * sk.FPS)
    starts = list(range(0, frames, size))
    spans = [(s, min(s + size, frames)) for s in starts]
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] < least:
        spans[-2] = (spans[-2][0], spans[-1][1])
        spans.pop()
    return spans


def caption_take(model, path: Path, bone_map: dict[str, str] | None = None) -> dict:
    """The caption line of one take (raises MotionGPTError when it cannot be read)."""
    positions, fps, mapped_by = any_bvh.joint_positions(path, bone_map)
    joints = resample_linear(positions, fps, sk.FPS)
    if len(joints) < 8:
        raise MotionGPTError(f"{path}: only {len(joints)} frames at {sk.FPS:g} fps; a caption needs at least 8")
    windows = []
    for start, stop in _windows(len(joints)):
        feats = F.joints_to_features(joints[start:stop][: int(WINDOW_SECONDS * sk.FPS) + 1])
        caption = " ".join(str(model.caption(feats)).split())
        windows.append({"start_s": round(start / sk.FPS, 2), "end_s": round((stop - 1) / sk.FPS, 2),
                        "caption": caption, "confidence": round(model.caption_confidence(feats, caption), 4)})
    counts = Counter(w["caption"] for w in windows)
    best = max(counts, key=lambda c: (counts[c], np.mean([w["confidence"] for w in windows if w["caption"] == c])))
    record = {"description": best,
              "confidence": round(float(np.mean([w["confidence"] for w in windows if w["caption"] == best])), 4),
              "seconds": round((len(positions) - 1) / fps, 2), "mapped_by": mapped_by}
    if len(windows) > 1:
        record["windows"] = windows
    return record


def caption_library(model, root: str | Path, out: str | Path, bone_map: dict[str, str] | None = None,
                    progress: bool = True, on_line: Callable[[dict], None] | None = None) -> LibrarySummary:
    """Caption every BVH under ``root`` into ``out`` (module docstring)."""
    from tqdm import tqdm
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise MotionGPTError(f"{root}: folder not found")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() == ".bvh" and p.is_file())
    if not files:
        raise MotionGPTError(f"{root}: no .bvh files in this folder or below it")
    done = _done(out)
    summary = LibrarySummary()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a", encoding="utf-8") as fh:
        for path in tqdm(files, desc="captions", unit="file", disable=not progress):
            rel = path.relative_to(root).as_posix()
            if rel in done:
                summary.skipped += 1
                continue
            line = {"id": clip_id_for(rel), "file": rel}
            try:
                line.update(caption_take(model, path, bone_map))
                summary.captioned += 1
            except MotionGPTError as exc:
                line["error"] = getattr(exc, "problem", None) or str(exc)
                summary.failed += 1
                summary.problems[rel] = line["error"]
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
            fh.flush()
            if on_line is not None:
                on_line(line)
    return summary
