"""A folder of BVH files on any skeleton, plus captions, as training clips.

This is how a studio trains on its own mocap (and how the CMU clips in
``../shared/data/cmu`` are read). The folder holds BVH files anywhere below
it and one or more ``captions*.jsonl`` files, one JSON object a line::

    {"id": "cmu_002_05", "file": "train/002_05.bvh", "description": "punch/strike"}

``captions`` (a list of sentences) is used as written; otherwise the
``description`` is turned into captions (``captions.describe``). The split
is the record's ``split``, else the file name's (``captions_val.jsonl`` ->
val), else train.

Each file's skeleton is mapped onto the 22 joints by the add-on's bone-name
detection (or a bone-map JSON), its lengths turned into metres (unit
guessed from the body's size), its up axis turned to +Y by a proper rotation
(so the actor's left stays left) and its frames resampled by time to 20 fps.
Joints a rig lacks in the spine and collars are interpolated; any other
missing joint makes the file unmappable. Nothing is dropped silently: every
file that cannot be used is listed with the reason.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import MotionFileError, MotionGPTError
from ..motion import skeleton as sk
from ..motion.bvh import BvhMotion, bvh_joint_positions, guess_scale_to_metres, read_bvh
from ..motion.resample import resample_linear
from . import rig_map
from .captions import describe, description_action
from .source_clip import SourceClip

UP_AXES: dict[str, np.ndarray] = {
    "y": np.eye(3),
    "-y": np.array([[1.0, 0, 0], [0, -1, 0], [0, 0, -1]]),
    "z": np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]]),
    "-z": np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]),
    "x": np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]),
    "-x": np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]]),
}
"""Proper rotations (det +1, so left stays left) that turn each up axis into +Y."""

SPINE_CHAIN = ("pelvis", "spine1", "spine2", "spine3", "neck", "head")
"""Joints along the body's centre; missing inner ones are interpolated."""
FILLABLE = frozenset({"spine1", "spine2", "spine3", "neck", "left_collar", "right_collar"})
"""Joints a rig may lack: they are placed between their mapped neighbours."""
MIN_FRAMES = 8
"""Shortest clip kept, in 20 fps frames (one motion token at every phase)."""
UPRIGHT_SHARE = 0.7
"""How much of the mean feet-to-head vector must lie on one axis to call it up."""


@dataclass
class LibraryReport:
    """What was read and, per file, what could not be used and why."""
    root: Path
    clips: list[SourceClip] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)
    mapped_from: dict[str, str] = field(default_factory=dict)

    def problem_lines(self) -> list[str]:
        return [f"  {name}: {why}" for name, why in sorted(self.problems.items())]


def _records(root: Path) -> list[tuple[Path, int, dict]]:
    files = sorted(root.glob("**/captions*.jsonl"))
    if not files:
        raise MotionFileError(root, "no captions*.jsonl here; a BVH library needs one JSON line per file, e.g. "
                                    '{"id": "walk_01", "file": "walk_01.bvh", "description": "walk"}')
    out = []
    for path in files:
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise MotionFileError(path, f"line {line_no} is not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict) or not (record.get("captions") or record.get("description")):
                raise MotionFileError(path, f"line {line_no} has neither 'captions' nor 'description'")
            out.append((path, line_no, record))
    return out


def _split_of(captions_file: Path, record: dict) -> str:
    if record.get("split"):
        return str(record["split"])
    stem = captions_file.stem
    return stem[len("captions_"):] if stem.startswith("captions_") else "train"


def detect_up_axis(positions: np.ndarray, mapping_index: dict[str, int], path: Path | str) -> str:
    """The axis the body stands along: the dominant one of the mean vector
    from the ankles to the head over the whole take."""
    feet = positions[:, [mapping_index["left_ankle"], mapping_index["right_ankle"]]].mean(axis=1)
    top = positions[:, mapping_index["head"]]           # t2m_positions refuses a mapping without one
    up = (top - feet).mean(axis=0)
    axis = int(np.argmax(np.abs(up)))
    if abs(up[axis]) < UPRIGHT_SHARE * np.linalg.norm(up):
        raise MotionFileError(path, f"cannot tell which way is up (feet-to-head {np.round(up, 3).tolist()}); "
                                    "pass --up")
    return ("-" if up[axis] < 0 else "") + "xyz"[axis]


def _interpolate_chain(columns: dict[str, np.ndarray]) -> None:
    known = [i for i, j in enumerate(SPINE_CHAIN) if j in columns]
    for i, joint in enumerate(SPINE_CHAIN):
        if joint in columns:
            continue
        lo = max(k for k in known if k < i)
        hi = min(k for k in known if k > i)
        w = (i - lo) / (hi - lo)
        columns[joint] = columns[SPINE_CHAIN[lo]] * (1 - w) + columns[SPINE_CHAIN[hi]] * w


def t2m_positions(motion: BvhMotion, mapping: dict[str, str], path: Path | str, up: str = "auto",
                  scale: float | None = None) -> np.ndarray:
    """(T, 22, 3) joint positions in metres, Y up, at the file's frame rate.
    Raises MotionFileError naming the joints no bone plays."""
    missing = [j for j in sk.JOINT_NAMES if j not in mapping and j not in FILLABLE]   # the head included
    if missing:
        bm = rig_map.bone_maps()
        raise MotionFileError(path, "no bone for " + ", ".join(f"{bm.JOINT_LABELS[j]} ({j})" for j in missing)
                              + "; pass --bone-map JSON naming them")
    if motion.num_frames < 2:
        raise MotionFileError(path, f"has {motion.num_frames} frame(s); a motion needs at least 2")
    scale = guess_scale_to_metres(motion) if scale is None else scale
    world = bvh_joint_positions(motion, scale)
    index = {j: motion.names.index(b) for j, b in mapping.items()}
    up = detect_up_axis(world, index, path) if up == "auto" else up
    world = world @ UP_AXES[up].T
    columns = {j: world[:, i] for j, i in index.items()}
    _interpolate_chain(columns)
    for side in ("left", "right"):
        columns.setdefault(f"{side}_collar", (columns["neck"] + columns[f"{side}_shoulder"]) / 2.0)
    return np.stack([columns[j] for j in sk.JOINT_NAMES], axis=1)


def read_library(root: str | Path, bone_map: dict[str, str] | None = None, up: str = "auto",
                 units_scale: float | None = None, splits: Iterable[str] | None = None,
                 name: str | None = None) -> LibraryReport:
    """Read every captioned BVH under ``root`` (see the module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise MotionFileError(root, "BVH library folder not found")
    source = name or root.name
    report = LibraryReport(root)
    wanted = set(splits) if splits else None
    captioned: set[Path] = set()
    seen_ids: set[str] = set()
    for captions_file, line_no, record in _records(root):
        rel = record.get("file") or f"{record.get('id')}.bvh"
        path = (captions_file.parent / rel) if (captions_file.parent / rel).is_file() else root / rel
        captioned.add(path.resolve())
        label = str(Path(rel))
        clip_id = str(record.get("id") or Path(rel).stem)
        split = _split_of(captions_file, record)
        if wanted is not None and split not in wanted:
            continue
        if clip_id in seen_ids:
            report.problems[label] = f"id {clip_id!r} is used twice ({captions_file.name} line {line_no})"
            continue
        if not path.is_file():
            report.problems[label] = f"listed in {captions_file.name} line {line_no} but the file is missing"
            continue
        try:
            motion = read_bvh(path)
            if bone_map is not None:
                mapping = {j: b for j, b in bone_map.items() if b in motion.names}
                report.mapped_from[label] = "bone map"
            else:
                mapping, where = rig_map.detect_bone_map(motion.names, motion.parents)
                report.mapped_from[label] = where
            joints = resample_linear(t2m_positions(motion, mapping, label, up, units_scale), motion.fps, sk.FPS)
        except MotionGPTError as exc:
            report.problems[label] = getattr(exc, "problem", str(exc))
            continue
        if len(joints) < MIN_FRAMES:
            report.problems[label] = f"only {len(joints)} frames at {sk.FPS} fps; at least {MIN_FRAMES} are needed"
            continue
        description = str(record.get("description") or "")
        captions = [str(c) for c in record.get("captions") or describe(description)]
        action = str(record.get("action") or description_action(description or captions[0]))
        labels = {"source": source, "action": action, "description": description, "file": label}
        seen_ids.add(clip_id)
        report.clips.append(SourceClip(clip_id, split, captions, labels, joints.astype(np.float32)))
    for path in sorted(root.glob("**/*.bvh")):
        if path.resolve() not in captioned:
            report.problems[str(path.relative_to(root))] = "no caption line names this file; it was not used"
    return report
