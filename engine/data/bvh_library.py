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
from ..motion.bvh import BvhMotion, bvh_end_site_positions, bvh_world_pose, guess_scale_to_metres, read_bvh
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
LIBRARY_BONE_MAP = "bone_map.json"
"""A library folder's own bone map (the add-on's format), used unless --bone-map is given."""


@dataclass
class LibraryReport:
    """What was read and, per file, what could not be used and why."""
    root: Path
    clips: list[SourceClip] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)
    mapped_from: dict[str, str] = field(default_factory=dict)
    up: str | None = None
    licences: set[str] = field(default_factory=set)

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
            if not isinstance(record, dict) or not (record.get("captions") or record.get("description")
                                                    or record.get("error")):
                raise MotionFileError(path, f"line {line_no} has neither 'captions' nor 'description'")
            out.append((path, line_no, record))
    return out


def _split_of(captions_file: Path, record: dict) -> str:
    if record.get("split"):
        return str(record["split"])
    stem = captions_file.stem
    return stem[len("captions_"):] if stem.startswith("captions_") else "train"


def up_vote(positions: np.ndarray) -> str | None:
    """The axis the body stands along in a (T, 22, 3) take: the dominant
    one of the mean vector from the ankles to the head, or None when the
    body is not upright enough to tell (lying, crawling, rolling)."""
    feet = positions[:, [sk.JOINT_INDEX["left_ankle"], sk.JOINT_INDEX["right_ankle"]]].mean(axis=1)
    up = (positions[:, sk.JOINT_INDEX["head"]] - feet).mean(axis=0)
    axis = int(np.argmax(np.abs(up)))
    if abs(up[axis]) < UPRIGHT_SHARE * np.linalg.norm(up):
        return None
    return ("-" if up[axis] < 0 else "") + "xyz"[axis]


def detect_up_axis(positions: np.ndarray, path: Path | str) -> str:
    """:func:`up_vote` for one file on its own, as an error when it cannot tell."""
    vote = up_vote(positions)
    if vote is None:
        feet = positions[:, [sk.JOINT_INDEX["left_ankle"], sk.JOINT_INDEX["right_ankle"]]].mean(axis=1)
        up = (positions[:, sk.JOINT_INDEX["head"]] - feet).mean(axis=0)
        raise MotionFileError(path, f"cannot tell which way is up (feet-to-head {np.round(up, 3).tolist()}); "
                                    "pass --up")
    return vote


def library_up_axis(votes: Iterable[str | None]) -> str | None:
    """One up axis for a whole library: the commonest vote of its upright
    takes. Per-take guesses turn lying and crawling takes on their side;
    a library is recorded in one studio's axes."""
    counts: dict[str, int] = {}
    for vote in votes:
        if vote is not None:
            counts[vote] = counts.get(vote, 0) + 1
    return max(counts, key=counts.get) if counts else None


def _interpolate_chain(columns: dict[str, np.ndarray]) -> None:
    known = [i for i, j in enumerate(SPINE_CHAIN) if j in columns]
    for i, joint in enumerate(SPINE_CHAIN):
        if joint in columns:
            continue
        lo = max(k for k in known if k < i)
        hi = min(k for k in known if k > i)
        w = (i - lo) / (hi - lo)
        columns[joint] = columns[SPINE_CHAIN[lo]] * (1 - w) + columns[SPINE_CHAIN[hi]] * w


END_SITE_JOINTS = {"left_foot": "left_ankle", "right_foot": "right_ankle",
                   "left_wrist": "left_elbow", "right_wrist": "right_elbow"}
"""Joints a skeleton may end before (no toe or hand bone): they are taken
from the End Site, or the one child, of the bone before them."""
ZERO_BONE_SHARE = 0.01
"""A mapped joint closer to its parent than this share of the body's size
sits on it (a zero-length bone, e.g. CMU's LowerBack on Hips)."""


def _tip_columns(motion: BvhMotion, mapping: dict[str, str], world: np.ndarray, rotations: np.ndarray,
                 scale: float, path: Path | str) -> dict[str, np.ndarray]:
    """Positions for toes / hands the skeleton has no bone for."""
    columns = {}
    for joint, before in END_SITE_JOINTS.items():
        if joint in mapping or before not in mapping:
            continue
        bone = motion.names.index(mapping[before])
        tip = bvh_end_site_positions(motion, bone, world, rotations, scale)
        children = [c for c in range(motion.num_joints) if motion.parents[c] == bone]
        if tip is not None and np.linalg.norm(motion.end_sites[bone]) > 0:
            columns[joint] = tip
        elif len(children) == 1:
            columns[joint] = world[:, children[0]]
        else:
            raise MotionFileError(path, f"no bone for {joint} and bone '{mapping[before]}' has no End Site to "
                                        f"take it from; pass --bone-map JSON naming it")
    return columns


def _check_finite(columns: dict[str, np.ndarray], mapping: dict[str, str], path: Path | str) -> None:
    for joint, values in columns.items():
        bad = ~np.isfinite(values).all(axis=-1)
        if bad.any():
            raise MotionFileError(path, f"bone '{mapping.get(joint, joint)}' ({joint}) has NaN or infinite "
                                        f"values from frame {int(np.argmax(bad))} on; the file is damaged")


def _drop_zero_length(columns: dict[str, np.ndarray], mapping: dict[str, str], path: Path | str) -> None:
    """Joints that sit on their parent joint: fillable ones are dropped (and
    interpolated later), any other is an error naming the bone."""
    stacked = np.stack(list(columns.values()), axis=1)
    size = float(np.ptp(stacked[0], axis=0).max()) or 1.0
    for joint in sk.JOINT_NAMES:
        parent = sk.PARENTS[sk.JOINT_INDEX[joint]]
        if joint not in columns or parent < 0:
            continue
        parent_name = sk.JOINT_NAMES[parent]
        if parent_name not in columns:
            continue
        length = float(np.median(np.linalg.norm(columns[joint] - columns[parent_name], axis=-1)))
        if length >= ZERO_BONE_SHARE * size:
            continue
        if joint in FILLABLE:
            del columns[joint]
        else:
            raise MotionFileError(path, f"bone '{mapping.get(joint, joint)}' ({joint}) sits on "
                                        f"'{mapping.get(parent_name, parent_name)}' ({parent_name}): a zero-length "
                                        "bone; pass --bone-map JSON naming another bone")


def mapped_positions(motion: BvhMotion, mapping: dict[str, str], path: Path | str,
                     scale: float | None = None) -> np.ndarray:
    """(T, 22, 3) joint positions in metres in the file's own axes, at its
    frame rate. Raises MotionFileError naming the joints no bone plays, a
    bone with NaN values, or a zero-length bone that cannot be filled."""
    tips = {j for j, before in END_SITE_JOINTS.items() if j not in mapping and before in mapping}
    missing = [j for j in sk.JOINT_NAMES if j not in mapping and j not in FILLABLE and j not in tips]
    if missing:
        bm = rig_map.bone_maps()
        raise MotionFileError(path, "no bone for " + ", ".join(f"{bm.JOINT_LABELS[j]} ({j})" for j in missing)
                              + "; pass --bone-map JSON naming them")
    if motion.num_frames < 2:
        raise MotionFileError(path, f"has {motion.num_frames} frame(s); a motion needs at least 2")
    scale = guess_scale_to_metres(motion) if scale is None else scale
    world, rotations = bvh_world_pose(motion, scale)
    columns = {j: world[:, motion.names.index(b)] for j, b in mapping.items()}
    columns.update(_tip_columns(motion, mapping, world, rotations, scale, path))
    _check_finite(columns, mapping, path)
    _drop_zero_length(columns, mapping, path)
    _interpolate_chain(columns)
    for side in ("left", "right"):
        columns.setdefault(f"{side}_collar", (columns["neck"] + columns[f"{side}_shoulder"]) / 2.0)
    return np.stack([columns[j] for j in sk.JOINT_NAMES], axis=1)


def stand_up(positions: np.ndarray, up: str) -> np.ndarray:
    """Turn a take so that ``up`` becomes +Y (a proper rotation)."""
    return positions @ UP_AXES[up].T


def t2m_positions(motion: BvhMotion, mapping: dict[str, str], path: Path | str, up: str = "auto",
                  scale: float | None = None) -> np.ndarray:
    """(T, 22, 3) joint positions in metres, Y up, at the file's frame rate,
    the up axis guessed from this file alone when ``up`` is "auto"."""
    positions = mapped_positions(motion, mapping, path, scale)
    return stand_up(positions, detect_up_axis(positions, path) if up == "auto" else up)


def mapping_for(motion: BvhMotion, bone_map: dict[str, str] | None, origin: str,
                given: bool = False) -> tuple[dict[str, str], str]:
    """(joint -> bone, where it came from) for one file: a bone map the user
    gave as it is; a folder's ``bone_map.json`` where the file has the bones
    it names (a take on another skeleton is mapped by its bone names); else
    the add-on's name detection."""
    detected, source = rig_map.detect_bone_map(motion.names, motion.parents)
    if bone_map is not None:
        mapping = {j: b for j, b in bone_map.items() if b in motion.names}
        if given or len(mapping) == len(bone_map) or len(detected) <= len(mapping):
            return mapping, origin
    return detected, source


def library_bone_map(root: Path) -> dict[str, str] | None:
    """The ``bone_map.json`` a library folder carries for its skeleton, if any."""
    path = root / LIBRARY_BONE_MAP
    return rig_map.load_bone_map_file(path) if path.is_file() else None


def read_library(root: str | Path, bone_map: dict[str, str] | None = None, up: str = "auto",
                 units_scale: float | None = None, splits: Iterable[str] | None = None,
                 name: str | None = None) -> LibraryReport:
    """Read every captioned BVH under ``root`` (see the module docstring).
    Without ``bone_map`` the folder's own ``bone_map.json`` is used if it has
    one, else each file's bones are detected by name. With ``up="auto"`` the
    whole library gets one up axis (:func:`library_up_axis`)."""
    root = Path(root)
    if not root.is_dir():
        raise MotionFileError(root, "BVH library folder not found")
    source = name or root.name
    report = LibraryReport(root)
    given = bone_map is not None
    if bone_map is None:
        bone_map = library_bone_map(root)
        map_origin = LIBRARY_BONE_MAP
    else:
        map_origin = "bone map"
    wanted = set(splits) if splits else None
    captioned: set[Path] = set()
    seen_ids: set[str] = set()
    takes: list[tuple[str, str, dict, np.ndarray, str | None]] = []
    for captions_file, line_no, record in _records(root):
        rel = record.get("file") or f"{record.get('id')}.bvh"
        path = (captions_file.parent / rel) if (captions_file.parent / rel).is_file() else root / rel
        captioned.add(path.resolve())
        label = str(Path(rel))
        clip_id = str(record.get("id") or Path(rel).stem)
        split = _split_of(captions_file, record)
        if wanted is not None and split not in wanted:
            continue
        if not (record.get("captions") or record.get("description")):       # a line 'caption DIR' could not fill
            report.problems[label] = f"no caption ({captions_file.name} line {line_no}: {str(record['error'])[:200]})"
            continue
        if clip_id in seen_ids:
            report.problems[label] = f"id {clip_id!r} is used twice ({captions_file.name} line {line_no})"
            continue
        if not path.is_file():
            report.problems[label] = f"listed in {captions_file.name} line {line_no} but the file is missing"
            continue
        try:
            motion = read_bvh(path)
            mapping, report.mapped_from[label] = mapping_for(motion, bone_map, map_origin, given)
            positions = resample_linear(mapped_positions(motion, mapping, label, units_scale), motion.fps, sk.FPS)
        except MotionGPTError as exc:
            report.problems[label] = getattr(exc, "problem", str(exc))
            continue
        if len(positions) < MIN_FRAMES:
            report.problems[label] = f"only {len(positions)} frames at {sk.FPS} fps; at least {MIN_FRAMES} are needed"
            continue
        seen_ids.add(clip_id)
        takes.append((clip_id, split, record, positions, label))
    if up == "auto":
        report.up = library_up_axis(up_vote(t[3]) for t in takes)
    else:
        report.up = up
    for clip_id, split, record, positions, label in takes:
        if report.up is None:
            report.problems[label] = "cannot tell which way is up: no take in this library stands upright; pass --up"
            continue
        description = str(record.get("description") or "")
        captions = [str(c) for c in record.get("captions") or describe(description)]
        action = str(record.get("action") or description_action(description or captions[0]))
        labels = {"source": source, "action": action, "description": description, "file": label}
        joints = stand_up(positions, report.up).astype(np.float32)
        if record.get("licence"):
            report.licences.add(str(record["licence"]))
        report.clips.append(SourceClip(clip_id, split, captions, labels, joints))
    for path in sorted(root.glob("**/*.bvh")):
        if path.resolve() not in captioned:
            report.problems[str(path.relative_to(root))] = "no caption line names this file; it was not used"
    return report
