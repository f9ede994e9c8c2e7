"""Reader for the shared Bandai Namco motion data (npz + captions jsonl) and
its mapping onto the 22-joint SMPL/HumanML3D skeleton.

The source skeleton has 21 joints and one spine joint fewer than SMPL. The
correspondence (one line per SMPL joint) lives in ``T2M_FROM_BANDAI``; the
missing ``spine2`` is the midpoint of Spine and Chest, which keeps it rigid
with the torso between the two real spine joints.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MotionFileError
from ..motion import skeleton as sk
from ..motion.kinematics import forward_kinematics
from ..motion.quaternion import qnormalize

REQUIRED_KEYS = ("joint_names", "parents", "offsets_m", "fps", "clip_ids",
                 "clip_start", "clip_len", "root_pos", "rot")

T2M_FROM_BANDAI: dict[str, str | tuple[str, str]] = {
    "pelvis": "Hips", "left_hip": "UpperLeg_L", "right_hip": "UpperLeg_R",
    "spine1": "Spine", "left_knee": "LowerLeg_L", "right_knee": "LowerLeg_R",
    "spine2": ("Spine", "Chest"),  # interpolated: midpoint
    "left_ankle": "Foot_L", "right_ankle": "Foot_R", "spine3": "Chest",
    "left_foot": "Toes_L", "right_foot": "Toes_R", "neck": "Neck",
    "left_collar": "Shoulder_L", "right_collar": "Shoulder_R", "head": "Head",
    "left_shoulder": "UpperArm_L", "right_shoulder": "UpperArm_R",
    "left_elbow": "LowerArm_L", "right_elbow": "LowerArm_R",
    "left_wrist": "Hand_L", "right_wrist": "Hand_R",
}
"""SMPL joint -> Bandai joint (or a pair whose midpoint stands in for it)."""


@dataclass(frozen=True)
class BandaiMotions:
    """All clips of one npz, joined end to end as stored."""
    path: Path
    joint_names: tuple[str, ...]
    parents: np.ndarray
    offsets: np.ndarray
    fps: float
    clip_ids: tuple[str, ...]
    clip_start: np.ndarray
    clip_len: np.ndarray
    root_pos: np.ndarray
    rot: np.ndarray

    def clip_slice(self, i: int) -> slice:
        return slice(int(self.clip_start[i]), int(self.clip_start[i] + self.clip_len[i]))


def load_bandai_npz(path: str | Path) -> BandaiMotions:
    """Load and check a motions npz; quaternions are renormalised because the
    file stores them as float16."""
    path = Path(path)
    if not path.is_file():
        raise MotionFileError(path, "file not found; point --source at the folder holding motions_<split>.npz")
    try:
        data = np.load(path, allow_pickle=False)
        missing = [k for k in REQUIRED_KEYS if k not in data.files]
        if missing:
            raise MotionFileError(path, f"not a motion npz of the expected layout: missing keys {missing}")
        arrays = {k: data[k] for k in REQUIRED_KEYS}
    except MotionFileError:
        raise
    except Exception as exc:  # zip errors, truncated arrays, pickled content
        raise MotionFileError(path, f"cannot be read as an npz archive ({exc})") from exc
    n_frames = len(arrays["root_pos"])
    n_joints = len(arrays["joint_names"])
    if arrays["rot"].shape != (n_frames, n_joints, 4):
        raise MotionFileError(path, f"'rot' has shape {arrays['rot'].shape}, expected ({n_frames}, {n_joints}, 4)")
    ends = arrays["clip_start"] + arrays["clip_len"]
    if len(ends) and (ends.max() > n_frames or arrays["clip_start"].min() < 0):
        raise MotionFileError(path, "clip_start/clip_len point past the stored frames; the file is truncated")
    return BandaiMotions(
        path=path, joint_names=tuple(str(n) for n in arrays["joint_names"]),
        parents=arrays["parents"].astype(np.int64), offsets=arrays["offsets_m"].astype(np.float64),
        fps=float(arrays["fps"]), clip_ids=tuple(str(c) for c in arrays["clip_ids"]),
        clip_start=arrays["clip_start"].astype(np.int64), clip_len=arrays["clip_len"].astype(np.int64),
        root_pos=arrays["root_pos"].astype(np.float64), rot=qnormalize(arrays["rot"].astype(np.float64)),
    )


def bandai_joint_positions(motions: BandaiMotions) -> np.ndarray:
    """World positions (F, 21, 3) of every stored frame."""
    positions, _ = forward_kinematics(motions.rot, motions.root_pos, motions.offsets, motions.parents)
    return positions


def to_t2m_joints(bandai_positions: np.ndarray, joint_names: tuple[str, ...]) -> np.ndarray:
    """(F, 21, 3) Bandai positions -> (F, 22, 3) in SMPL joint order."""
    index = {name: i for i, name in enumerate(joint_names)}
    columns = []
    for t2m_name in sk.JOINT_NAMES:
        source = T2M_FROM_BANDAI[t2m_name]
        try:
            if isinstance(source, tuple):
                columns.append(bandai_positions[:, [index[s] for s in source]].mean(axis=1))
            else:
                columns.append(bandai_positions[:, index[source]])
        except KeyError as exc:
            raise MotionFileError("skeleton", f"joint {exc} needed for '{t2m_name}' is missing") from exc
    return np.stack(columns, axis=1)


def load_captions(path: str | Path) -> list[dict]:
    """One record per clip, in npz order (see the data README)."""
    path = Path(path)
    if not path.is_file():
        raise MotionFileError(path, "caption file not found; every motions_<split>.npz needs its captions_<split>.jsonl")
    records = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise MotionFileError(path, f"line {line_no} is not valid JSON ({exc.msg})") from exc
            if "id" not in record or not record.get("captions"):
                raise MotionFileError(path, f"line {line_no} has no 'id' or no 'captions'")
            records.append(record)
    return records
