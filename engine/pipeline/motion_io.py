"""The engine's motion at any frame rate, and its JSON / BVH / NPZ forms.

A :class:`Motion` is what every task takes and returns: per-frame local joint
rotations of the 22-joint skeleton, the root translation, the rest offsets
and the frame rate. Joint positions follow from them by forward kinematics
(:meth:`Motion.positions`, cached), so a Motion always carries both forms the
add-on may want: rotations to drive an armature, positions to draw or retarget.

Conventions (those of :mod:`engine.motion.skeleton`): metres, Y up, the rest
pose (identity rotations) is a T-pose facing +Z, quaternions are (w, x, y, z),
``local_quats[t, j]`` rotates joint j relative to its parent (the pelvis's is
its world rotation), ``offsets[j]`` is joint j's rest offset from its parent.

Treat a Motion's arrays as read-only: the position cache is not invalidated
by in-place edits (build a new Motion instead, e.g. with :meth:`Motion.replace`).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MotionFileError, MotionGPTError, MotionShapeError
from ..motion import bvh
from ..motion import skeleton as sk
from ..motion.kinematics import forward_kinematics
from ..motion.quaternion import qfix, qnormalize, slerp
from ..motion.rotations import solve_rotations
from .errors import ParamError
from .fields import as_float, kind, numeric_array, shown

MIN_FPS: float = 1.0
MAX_FPS: float = 240.0
"""Frame rates a motion may have (Blender scenes use 24/25/30/50/60; high-speed
mocap 120/240)."""

MAX_BONE_M: float = 2.0
"""Longest rest offset accepted (metres); anything longer is not a body."""
MAX_NPZ_BYTES: int = 256 * 1024 * 1024
"""Most bytes a motion .npz may inflate to (60 s at 240 fps is a few MB)."""
MAX_SECONDS: float = 60.0
"""Longest motion any task reads or writes, and the longest ``seconds`` a task
may ask for."""

MIN_FRAMES: int = 2
"""A motion needs at least two frames (a velocity); tasks that feed it to the
model ask for a minimum duration on top (see engine.pipeline.jobs)."""

MOTION_KEYS: tuple[str, ...] = ("fps", "num_frames", "joint_names", "parents", "rest_offsets", "local_quats",
                                "root_translation", "joint_positions")
"""Keys of :meth:`Motion.to_dict`, the only ones :meth:`Motion.from_dict` accepts."""

REST_DIRECTION_TOLERANCE_DEG: float = 0.5
"""Rest offsets whose bones point further than this from the engine's T-pose
(:data:`skeleton.T_POSE_DIRECTIONS`) are another rest pose (an A-pose, SMPL's
own rest); such input is re-expressed on the T-pose from its joint positions."""

_FREE_REST_JOINTS = (sk.JOINT_INDEX["left_hip"], sk.JOINT_INDEX["right_hip"],
                     sk.JOINT_INDEX["left_collar"], sk.JOINT_INDEX["right_collar"])
"""Children of the pelvis and spine3 that are not on the spine: their rest
offsets are measured from the body (solve_rotations), not fixed directions."""

SUFFIXES: tuple[str, ...] = (".bvh", ".npz", ".json")

LEG_LENGTH_RANGE_M: tuple[float, float] = (0.05, 5.0)
"""Plausible hip-knee-ankle length of a body in metres (an adult's is about
0.8); outside it the input is in the wrong unit or collapsed."""
RESULT_BYTES_PER_FRAME: int = 1500
"""Bytes one frame of a returned motion takes in a JSON answer
(:meth:`Motion.to_dict`: 22 rotations, 22 positions and the root at 6
decimals): 1370 measured on a generated 10 s walk at 60 fps, rounded up.
The server estimates a job's result from it before running the job."""
DEFAULT_MAX_RESULT_MB: float = 128.0
"""Largest result the server returns for one job unless told otherwise
(``serve --max-result-mb``): 60 s x 8 variants at 120 fps fits (about 82 MB),
at 240 fps it does not (about 165 MB)."""
MAX_COORDINATE_M: float = 1.0e4


@dataclass(eq=False)
class Motion:
    """A 22-joint motion at ``fps`` frames per second (see module docstring)."""

    local_quats: np.ndarray
    root_pos: np.ndarray
    offsets: np.ndarray
    fps: float
    _positions: np.ndarray | None = field(default=None, init=False, repr=False)
    _world: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.local_quats = np.asarray(self.local_quats, dtype=np.float64)
        self.root_pos = np.asarray(self.root_pos, dtype=np.float64)
        self.offsets = np.asarray(self.offsets, dtype=np.float64)
        j = sk.NUM_JOINTS
        if self.local_quats.ndim != 3 or self.local_quats.shape[1:] != (j, 4) or len(self.local_quats) < 1:
            raise MotionShapeError(f"local_quats must have shape (frames, {j}, 4), got {self.local_quats.shape}")
        if self.root_pos.shape != (len(self.local_quats), 3):
            raise MotionShapeError(f"root_pos must have shape ({len(self.local_quats)}, 3), got {self.root_pos.shape}")
        if self.offsets.shape != (j, 3):
            raise MotionShapeError(f"offsets must have shape ({j}, 3), got {self.offsets.shape}")
        fps = float(self.fps)
        if not math.isfinite(fps) or fps <= 0:
            raise MotionShapeError(f"fps must be a positive number, got {self.fps!r}")
        self.fps = fps

    # -- basic facts -------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        return int(self.local_quats.shape[0])

    @property
    def duration(self) -> float:
        """Seconds from the first frame to the last."""
        return (self.num_frames - 1) / self.fps

    @property
    def parents(self) -> np.ndarray:
        return np.asarray(sk.PARENTS).copy()

    @property
    def joint_names(self) -> tuple[str, ...]:
        return sk.JOINT_NAMES

    def positions(self) -> np.ndarray:
        """(T, 22, 3) world joint positions by forward kinematics (cached)."""
        self._forward_kinematics()
        return self._positions

    def world_quats(self) -> np.ndarray:
        """(T, 22, 4) world rotation of every joint (cached)."""
        self._forward_kinematics()
        return self._world

    def _forward_kinematics(self) -> None:
        """One forward kinematics pass fills both caches: the foot cleanup
        asks for positions and world rotations of the same motion."""
        if self._positions is None or self._world is None:
            self._positions, self._world = forward_kinematics(self.local_quats, self.root_pos, self.offsets,
                                                              sk.PARENTS)

    def replace(self, local_quats: np.ndarray | None = None, root_pos: np.ndarray | None = None) -> "Motion":
        """A new Motion with some arrays swapped (same offsets and fps)."""
        return Motion(self.local_quats if local_quats is None else local_quats,
                      self.root_pos if root_pos is None else root_pos, self.offsets, self.fps)

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_positions(cls, joints: np.ndarray, fps: float = sk.FPS) -> "Motion":
        """Rotations solved from (T, 22, 3) joint positions (metres, Y up,
        SMPL joint order). Bone lengths are the median over frames, so a rigid
        body is reproduced to numerical precision; a non-rigid one (decoded
        model output) to within :func:`engine.motion.rotations.reconstruction_error_mm`."""
        rot = solve_rotations(joints, fps)
        return cls(rot.local_quats, rot.root_pos, rot.offsets, fps)

    @classmethod
    def from_rotations(cls, local_quats: np.ndarray, root_pos: np.ndarray, fps: float,
                       offsets: np.ndarray | None = None) -> "Motion":
        """From local rotations (w, x, y, z) and root translation. ``offsets``
        None means the canonical T-pose body (:data:`skeleton.T_POSE_OFFSETS_M`).
        Offsets of another rest pose (bones not along the T-pose directions,
        e.g. an A-pose) are re-expressed on the T-pose: the joint positions
        are kept and the rotations solved again."""
        q = qnormalize(np.asarray(local_quats, dtype=np.float64))
        offsets = np.array(sk.T_POSE_OFFSETS_M if offsets is None else offsets, dtype=np.float64)
        motion = cls(q, np.asarray(root_pos, dtype=np.float64), offsets, fps)
        if not is_tpose_rest(offsets):
            return cls.from_positions(motion.positions(), fps)
        return motion

    # -- time ---------------------------------------------------------------------
    def sample(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(quats, root) at fractional frame indices (clamped to the clip):
        slerp for rotations, linear for the root."""
        return sample_arrays(self.local_quats, self.root_pos, frames)

    def resample(self, fps: float, num_frames: int | None = None) -> "Motion":
        """The same motion at another frame rate, by time: output frame k is
        time k / fps. ``num_frames`` None keeps the whole frames inside the
        clip; more frames than fit hold the last pose."""
        fps = float(fps)
        if num_frames is None:
            if fps == self.fps:
                return Motion(self.local_quats.copy(), self.root_pos.copy(), self.offsets, fps)
            num_frames = int(math.floor(self.duration * fps + 1e-6)) + 1
        frames = np.arange(int(num_frames)) * (self.fps / fps)
        q, r = self.sample(frames)
        return Motion(q, r, self.offsets, fps)

    def slice(self, start: int, stop: int) -> "Motion":
        return Motion(self.local_quats[start:stop], self.root_pos[start:stop], self.offsets, self.fps)

    # -- JSON --------------------------------------------------------------------
    def to_dict(self, decimals: int = 6) -> dict[str, Any]:
        """JSON-ready dict (nested lists of floats rounded to ``decimals``)."""
        def lst(a: np.ndarray) -> list:
            return np.round(np.asarray(a, dtype=np.float64), decimals).tolist()
        return {
            "fps": float(self.fps),
            "num_frames": self.num_frames,
            "joint_names": list(sk.JOINT_NAMES),
            "parents": [int(p) for p in sk.PARENTS],
            "rest_offsets": lst(self.offsets),
            "local_quats": lst(self.local_quats),
            "root_translation": lst(self.root_pos),
            "joint_positions": lst(self.positions()),
        }

    @classmethod
    def from_dict(cls, d: Any, field: str = "motion") -> "Motion":
        """Validate and read a motion sent as JSON: either ``{"fps",
        "joint_positions"}`` (rotations are solved) or ``{"fps", "local_quats",
        "root_translation", ["rest_offsets"]}`` (rotations win when both are
        given, so ``from_dict(m.to_dict())`` gives ``m`` back). Raises
        :class:`ParamError` naming ``field.key`` for anything wrong."""
        if not isinstance(d, dict):
            raise ParamError(field, "must be an object: {\"fps\": ..., \"joint_positions\": [...]} or "
                                    "{\"fps\": ..., \"local_quats\": [...], \"root_translation\": [...]}, "
                                    f"got {kind(d)}")
        for key in d:
            if key not in MOTION_KEYS:
                raise ParamError(f"{field}.{key}", f"unknown key; a motion has {', '.join(MOTION_KEYS)}")
        fps = check_fps(d.get("fps"), f"{field}.fps")
        max_frames = max_frames_at(fps)
        if d.get("joint_names") is not None and (not isinstance(d["joint_names"], (list, tuple))
                                                 or list(d["joint_names"]) != list(sk.JOINT_NAMES)):
            raise ParamError(f"{field}.joint_names", "must be the 22 SMPL joint names in the engine's order "
                                                     f"({', '.join(sk.JOINT_NAMES)}); reorder the joints")
        if d.get("parents") is not None and (not isinstance(d["parents"], (list, tuple))
                                             or list(d["parents"]) != [int(p) for p in sk.PARENTS]):
            raise ParamError(f"{field}.parents", "does not match the 22-joint SMPL hierarchy")
        if d.get("local_quats") is not None or d.get("root_translation") is not None:
            quats = _array(d, "local_quats", 4, field, max_frames, fps)
            root = _array(d, "root_translation", None, field, max_frames, fps)
            if len(root) != len(quats):
                raise ParamError(f"{field}.root_translation", f"has {len(root)} frames but local_quats has "
                                                              f"{len(quats)}; give one root position per frame")
            norms = np.linalg.norm(quats, axis=-1)
            if np.any(norms < 1e-6):
                t = int(np.nonzero(norms < 1e-6)[0][0])
                raise ParamError(f"{field}.local_quats", f"has a zero quaternion at frame {t}; rotations must be "
                                                         "unit quaternions (w, x, y, z)")
            offsets = None
            if d.get("rest_offsets") is not None:
                offsets = _offsets(d["rest_offsets"], f"{field}.rest_offsets")
                _check_body(offsets[None], f"{field}.rest_offsets", offsets=True)
            motion = cls.from_rotations(quats, root, fps, offsets)
        elif d.get("joint_positions") is not None:
            joints = _array(d, "joint_positions", 3, field, max_frames, fps)
            _check_body(joints, f"{field}.joint_positions", offsets=False)
            motion = cls.from_positions(joints, fps)
        else:
            raise ParamError(field, "needs joint_positions (frames x 22 x 3), or local_quats (frames x 22 x 4) "
                                    "and root_translation (frames x 3)")
        if d.get("num_frames") is not None and d["num_frames"] != motion.num_frames:
            raise ParamError(f"{field}.num_frames", f"says {shown(d['num_frames'])} but the arrays hold "
                                                    f"{motion.num_frames} frames")
        return motion

    # -- files -------------------------------------------------------------------
    def to_bvh(self, path: str | Path, units: str = bvh.T2M_BVH_UNITS) -> Path:
        """A 22-joint BVH (ZXY Euler, centimetres by default: import into
        Blender with Scale 0.01)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        bvh.write_t2m_bvh(path, self.local_quats, self.root_pos, self.offsets, self.fps, units=units)
        return path

    @classmethod
    def from_bvh(cls, path: str | Path, bone_map: dict[str, str] | None = None) -> "Motion":
        """Read a BVH: the engine's 22-joint SMPL skeleton as it is (joint
        names as in :data:`skeleton.JOINT_NAMES`, any joint order, rotation
        order or unit m/cm), any other biped through its bone mapping
        (``bone_map``, a bone_map.json beside it, or its bone names:
        :mod:`engine.pipeline.any_bvh`), its rotations solved from the mapped
        joints' positions."""
        path = Path(path)
        if not path.is_file():
            raise MotionFileError(path, "file not found")
        parsed = bvh.read_bvh(path)
        if bone_map is not None or set(parsed.names) != set(sk.JOINT_NAMES) or len(parsed.names) != sk.NUM_JOINTS:
            from .any_bvh import joint_positions
            positions, fps, _ = joint_positions(path, bone_map)
            _check_take(path, len(positions), fps)
            return cls.from_positions(positions, fps)
        quats, root, offsets, fps = bvh.read_t2m_bvh(path)
        _check_take(path, len(quats), fps)
        return cls.from_rotations(quats, root, fps, offsets)

    def to_npz(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            np.savez(fh, fps=np.float64(self.fps), local_quats=self.local_quats, root_translation=self.root_pos,
                     rest_offsets=self.offsets, joint_positions=self.positions(),
                     joint_names=np.array(sk.JOINT_NAMES), parents=np.asarray(sk.PARENTS))
        return path

    @classmethod
    def from_npz(cls, path: str | Path) -> "Motion":
        path = Path(path)
        _check_npz_size(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                d = {k: (data[k].tolist() if data[k].ndim == 0 else data[k]) for k in data.files}
        except FileNotFoundError:
            raise MotionFileError(path, "file not found") from None
        except Exception as exc:
            raise MotionFileError(path, f"cannot be read as a .npz archive ({exc})") from exc
        if "joint_names" in d:
            d["joint_names"] = [str(n) for n in d["joint_names"]]
        if "parents" in d:
            d["parents"] = [int(p) for p in d["parents"]]
        return _from_file_dict(path, d)

    def save(self, path: str | Path) -> Path:
        """Write .bvh, .npz or .json, chosen by the file extension."""
        path = Path(path)
        suffix = check_suffix(path)
        if suffix == ".bvh":
            return self.to_bvh(path)
        if suffix == ".npz":
            return self.to_npz(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), separators=(",", ":")), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path, bone_map: dict[str, str] | None = None) -> "Motion":
        """Read .bvh (any biped skeleton: :meth:`from_bvh`), .npz (as
        :meth:`to_npz` writes) or .json (as :meth:`to_dict`, or joint
        positions only), chosen by the extension."""
        path = Path(path)
        suffix = check_suffix(path)
        if not path.is_file():
            raise MotionFileError(path, "file not found")
        if suffix == ".bvh":
            return cls.from_bvh(path, bone_map)
        if suffix == ".npz":
            return cls.from_npz(path)
        from ..jsonfile import read_json_file
        return _from_file_dict(path, read_json_file(path))


# ------------------------------------------------------------------------------
# helpers

def is_tpose_rest(offsets: np.ndarray, tolerance_deg: float = REST_DIRECTION_TOLERANCE_DEG) -> bool:
    """True when every bone with a fixed rest direction points along the
    engine's T-pose (zero-length bones count as matching)."""
    offsets = np.asarray(offsets, dtype=np.float64)
    idx = [j for j in range(1, sk.NUM_JOINTS) if j not in _FREE_REST_JOINTS]
    v = offsets[idx]
    n = np.linalg.norm(v, axis=-1)
    cos = (v * sk.T_POSE_DIRECTIONS[idx]).sum(-1) / np.maximum(n, 1e-12)
    ok = (n < 1e-9) | (cos >= math.cos(math.radians(tolerance_deg)))
    return bool(np.all(ok))


def sample_arrays(quats: np.ndarray, root: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate (T, J, 4) quaternions (slerp) and (T, 3) positions (lerp)
    at fractional frame indices, clamped to [0, T-1]. Integer indices return
    the stored values exactly."""
    quats = qfix(quats, axis=0)
    n = len(quats)
    f = np.clip(np.asarray(frames, dtype=np.float64), 0.0, n - 1)
    i0 = np.clip(np.floor(f).astype(int), 0, n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    w = f - i0
    q = slerp(quats[i0], quats[i1], np.broadcast_to(w[:, None], quats[i0].shape[:-1]))
    r = root[i0] * (1.0 - w[:, None]) + root[i1] * w[:, None]
    exact = w == 0.0
    q[exact] = quats[i0[exact]]
    r[exact] = root[i0[exact]]
    return q, r


def check_fps(value: Any, field: str) -> float:
    if value is None:
        raise ParamError(field, f"missing; give the frame rate ({MIN_FPS:g} to {MAX_FPS:g}), e.g. 24")
    fps = as_float(value, field, f"a number of frames per second ({MIN_FPS:g} to {MAX_FPS:g})")
    if not math.isfinite(fps) or not MIN_FPS <= fps <= MAX_FPS:
        raise ParamError(field, f"must be between {MIN_FPS:g} and {MAX_FPS:g} frames per second, got {shown(value)}")
    return fps


def max_frames_at(fps: float) -> int:
    return int(math.floor(MAX_SECONDS * fps + 1e-6)) + 1


def check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise MotionFileError(path, f"unknown file type {suffix or '(no extension)'!r}; use "
                                    f"{', '.join(SUFFIXES)}")
    return suffix


def _array(d: dict, key: str, last: int | None, field: str, max_frames: int, fps: float) -> np.ndarray:
    """(T, 22, last) array (or (T, 3) for last None) from d[key], every
    problem reported against ``field.key``."""
    name = f"{field}.{key}"
    shape_text = f"(frames, {sk.NUM_JOINTS}, {last})" if last else "(frames, 3)"
    value = d.get(key)
    if value is None:
        raise ParamError(name, f"missing; expected a nested list of shape {shape_text}")
    if isinstance(value, (list, tuple)) and len(value) > max_frames:
        raise ParamError(name, f"has {len(value)} frames ({(len(value) - 1) / fps:.1f} s at {fps:g} fps); the limit "
                               f"is {MAX_SECONDS:g} s ({max_frames} frames)")
    arr = numeric_array(value, name, shape_text)
    if last is None:
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise ParamError(name, f"must have shape {shape_text}, got {arr.shape}")
    else:
        if arr.ndim != 3:
            raise ParamError(name, f"must have shape {shape_text}, got {arr.shape}")
        if arr.shape[1] != sk.NUM_JOINTS:
            raise ParamError(name, f"expected {sk.NUM_JOINTS} joints, got {arr.shape[1]}; send the 22 SMPL joints "
                                   "in the engine's order")
        if arr.shape[2] != last:
            what = "3 values (x, y, z)" if last == 3 else "4 values (w, x, y, z)"
            raise ParamError(name, f"each joint needs {what}, got {arr.shape[2]}")
    if len(arr) < MIN_FRAMES:
        raise ParamError(name, f"has {len(arr)} frame(s); at least {MIN_FRAMES} are needed")
    if len(arr) > max_frames:
        raise ParamError(name, f"has {len(arr)} frames ({(len(arr) - 1) / fps:.1f} s at {fps:g} fps); the limit is "
                               f"{MAX_SECONDS:g} s ({max_frames} frames)")
    bad = ~np.isfinite(arr)
    if bad.any():
        t = int(np.nonzero(bad)[0][0])
        raise ParamError(name, f"contains NaN or infinite values (first at frame {t}); fill or drop those frames")
    if last != 4 and np.abs(arr).max() > MAX_COORDINATE_M:
        raise ParamError(name, f"has coordinates beyond {MAX_COORDINATE_M:g} m; positions must be in metres")
    return arr


def _check_body(values: np.ndarray, name: str, offsets: bool) -> None:
    """Refuse a body of implausible size: collapsed, or in centimetres."""
    knee, ankle = sk.LEG_LENGTH_JOINTS
    hip = sk.PARENTS[knee]
    if offsets:
        leg = float(np.linalg.norm(values[0, knee]) + np.linalg.norm(values[0, ankle]))
    else:
        leg = float(np.median(np.linalg.norm(values[:, knee] - values[:, hip], axis=-1)
                              + np.linalg.norm(values[:, ankle] - values[:, knee], axis=-1)))
    lo, hi = LEG_LENGTH_RANGE_M
    if leg < lo:
        raise ParamError(name, f"the body is collapsed (hip-knee-ankle length {leg:.3g} m); send a real pose "
                               "in metres")
    if leg > hi:
        raise ParamError(name, f"the body is {leg:.3g} m from hip to ankle; send lengths in metres (centimetres "
                               "divided by 100)")


def _offsets(value: Any, name: str) -> np.ndarray:
    arr = numeric_array(value, name, f"({sk.NUM_JOINTS}, 3)")
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ParamError(name, f"must have shape ({sk.NUM_JOINTS}, 3), got {arr.shape}")
    if arr.shape[0] != sk.NUM_JOINTS:
        raise ParamError(name, f"expected {sk.NUM_JOINTS} joints, got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise ParamError(name, "contains NaN or infinite values")
    longest = float(np.abs(arr).max())          # a component: no overflow on absurd values
    if longest > MAX_BONE_M:
        raise ParamError(name, f"has a bone {longest:.3g} m long; rest offsets are in metres and no body bone is "
                               f"longer than {MAX_BONE_M:g} m")
    return arr


def _check_take(path: Path, frames: int, fps: float) -> None:
    """A BVH take the tasks can read: frame rate, at least two frames, at most :data:`MAX_SECONDS`."""
    if not MIN_FPS <= fps <= MAX_FPS:
        raise MotionFileError(path, f"has a frame rate of {fps:g} fps; expected {MIN_FPS:g} to {MAX_FPS:g}")
    if frames < MIN_FRAMES:
        raise MotionFileError(path, f"has {frames} frame(s); at least {MIN_FRAMES} are needed")
    if frames > max_frames_at(fps):
        raise MotionFileError(path, f"is {(frames - 1) / fps:.1f} s long; the limit is {MAX_SECONDS:g} s, "
                                    "trim it first")


def _check_npz_size(path: Path) -> None:
    """Refuse an archive whose members inflate past :data:`MAX_NPZ_BYTES`
    (their sizes are in the zip directory: nothing is inflated to know)."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except FileNotFoundError:
        raise MotionFileError(path, "file not found") from None
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise MotionFileError(path, f"cannot be read as a .npz archive ({exc})") from None
    if total > MAX_NPZ_BYTES:
        raise MotionFileError(path, f"inflates to {total / 1e6:.0f} MB, more than a motion of at most "
                                    f"{MAX_SECONDS:g} s can hold; it is not a motion file")


def _from_file_dict(path: Path, d: Any) -> Motion:
    try:
        return Motion.from_dict(d, field="motion")
    except ParamError as exc:
        where = exc.field[len("motion."):] if exc.field.startswith("motion.") else ""
        raise MotionFileError(path, f"{where + ': ' if where else ''}{exc.message}") from exc
    except MotionGPTError as exc:
        raise MotionFileError(path, str(exc)) from exc
