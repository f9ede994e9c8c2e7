"""The HumanML3D folder layout, read and written.

Our dataset builder writes this same layout, so a user's own HumanML3D copy
and our processed data go through one loader:

    new_joint_vecs/<id>.npy   (T-1, 263) float32 features
    new_joints/<id>.npy       (T, 22, 3) positions (optional)
    texts/<id>.txt            one caption per line: "text#tokens#from#to"
    Mean.npy, Std.npy         (263,) normalisation statistics
    train.txt, val.txt, test.txt   clip ids, one per line
    dataset.json              our build manifest (absent in HumanML3D)

``from``/``to`` are seconds; when both are non-zero the caption describes
only that part of the clip (HumanML3D's sub-clip captions).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import MotionFileError
from ..motion import features as F
from ..motion import skeleton as sk
from ..npy import load_npy, read_npy

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Caption:
    text: str
    start_s: float = 0.0
    end_s: float = 0.0

    def frame_range(self, num_frames: int, fps: float = sk.FPS) -> tuple[int, int]:
        """Feature rows this caption covers (the whole clip unless a sub-clip)."""
        if self.start_s == 0.0 and self.end_s == 0.0:
            return 0, num_frames
        return int(self.start_s * fps), min(num_frames, int(self.end_s * fps))


@dataclass
class MotionClip:
    clip_id: str
    features: np.ndarray
    captions: list[Caption] = field(default_factory=list)


def is_humanml3d_folder(path: str | Path) -> bool:
    path = Path(path)
    return (path / "new_joint_vecs").is_dir() and (path / "texts").is_dir()


def caption_line(text: str, start_s: float = 0.0, end_s: float = 0.0) -> str:
    """One texts/<id>.txt line. HumanML3D stores spaCy word/POS tokens in the
    second field; we have no tagger offline, so words get the tag OTHER."""
    text = " ".join(text.replace("#", " ").split())
    tokens = " ".join(f"{w}/OTHER" for w in text.lower().strip(".").split())
    return f"{text}#{tokens}#{start_s:.1f}#{end_s:.1f}"


def read_captions(path: str | Path) -> list[Caption]:
    path = Path(path)
    if not path.is_file():
        raise MotionFileError(path, "caption file not found; every clip in the split list needs texts/<id>.txt")
    captions = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("#")
        start = end = 0.0
        if len(parts) >= 4:
            try:
                start, end = float(parts[2] or 0.0), float(parts[3] or 0.0)
            except ValueError as exc:
                raise MotionFileError(path, f"line {line_no}: start/end '{parts[2]}#{parts[3]}' are not numbers") from exc
            start = 0.0 if np.isnan(start) else start
            end = 0.0 if np.isnan(end) else end
        captions.append(Caption(parts[0].strip(), start, end))
    if not captions:
        raise MotionFileError(path, "caption file is empty")
    return captions


def read_split_ids(root: str | Path, split: str) -> list[str]:
    path = Path(root) / f"{split}.txt"
    if not path.is_file():
        raise MotionFileError(path, f"split list not found; the folder has no '{split}' split")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_features(path: str | Path) -> np.ndarray:
    return load_npy(path, (F.FEATURE_DIM,), "HumanML3D features").astype(np.float32)


def load_stats(root: str | Path) -> tuple[np.ndarray, np.ndarray]:
    root = Path(root)
    stats = []
    for name in ("Mean.npy", "Std.npy"):
        arr = read_vector(root / name)
        stats.append(arr)
    mean, std = stats
    if np.any(std <= 0):
        raise MotionFileError(root / "Std.npy", "has zero or negative entries; rebuild the dataset statistics")
    return mean, std


def read_vector(path: Path) -> np.ndarray:
    arr = read_npy(path, "statistics file not found").astype(np.float32)
    if arr.shape != (F.FEATURE_DIM,) or not np.all(np.isfinite(arr)):
        raise MotionFileError(path, f"expected {F.FEATURE_DIM} finite values, got shape {arr.shape}")
    return arr


def load_clip(root: str | Path, clip_id: str) -> MotionClip:
    root = Path(root)
    return MotionClip(clip_id, read_features(root / "new_joint_vecs" / f"{clip_id}.npy"),
                      read_captions(root / "texts" / f"{clip_id}.txt"))


def load_split(root: str | Path, split: str, min_frames: int = 1) -> list[MotionClip]:
    """Every clip of a split with its captions; clips shorter than
    ``min_frames`` feature rows are dropped (HumanML3D drops < 40)."""
    clips = [load_clip(root, cid) for cid in read_split_ids(root, split)]
    return [c for c in clips if len(c.features) >= min_frames]


def compute_stats(feature_arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over all frames, with the std of each feature group
    averaged as in HumanML3D's cal_mean_variance, so no single channel of a
    group is blown up by a tiny variance."""
    stacked = np.concatenate([np.asarray(a, dtype=np.float64) for a in feature_arrays], axis=0)
    mean = stacked.mean(axis=0)
    std = stacked.std(axis=0)
    for group in F.FEATURE_GROUPS.values():
        std[group] = std[group].mean()
    std = np.maximum(std, 1e-3)
    return mean.astype(np.float32), std.astype(np.float32)


def write_clip(root: Path, clip_id: str, features: np.ndarray, captions: list[str],
               joints: np.ndarray | None = None) -> None:
    np.save(root / "new_joint_vecs" / f"{clip_id}.npy", features.astype(np.float32))
    (root / "texts" / f"{clip_id}.txt").write_text("\n".join(caption_line(c) for c in captions) + "\n",
                                                  encoding="utf-8")
    if joints is not None:
        np.save(root / "new_joints" / f"{clip_id}.npy", joints.astype(np.float32))


def write_manifest(root: Path, manifest: dict) -> None:
    (root / "dataset.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def read_manifest(root: str | Path) -> dict:
    path = Path(root) / "dataset.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
