"""Walk (or run) along a path on the ground: motion path editing in the
spirit of Gleicher (2001).

The model makes the action as it likes to (mostly straight ahead); the
path is then imposed on its root. The generated root path is split into
its travel direction (the root smoothed over half a second), its progress
along that direction (the root's own steps, so the gait's surges stay) and
its sideways sway. The progress is mapped onto the path by arc length, so
the body covers the path exactly, at the pace the action had; each frame
is turned about Y by the difference between the path's direction there
and the direction the body travelled, so the body keeps facing the way it
faced relative to its travel (forward for a walk, backward for walking
backward, sideways for a side step), and the sway is kept across the path
(softly held within :data:`SWAY_LIMIT_M`). Turns come where the path turns.
The foot cleanup, run afterwards by the task, plants the feet on the new
path. How long a path takes and what is made along it (a run round a tight
curve is slowed and made as a running turn) is
:func:`engine.pipeline.tasks.plan_path`'s.

A path is ``{"points": [[x, z], ...], "seconds": optional, "leg_length":
optional}`` in metres on the engine's ground plane (Y up; the motion starts
at the first point), or a CSV of ``x,z`` rows. ``leg_length`` says how long
the walker's legs are (hip to knee to ankle) in the path's units: the path is
then scaled to the model's body, so a rig whose legs are longer than the
model's still lands on the curve after its root motion is scaled by the
leg ratio (the add-on sends it; a path in plain metres for the model's own
body leaves it out).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..motion.features import gaussian_smooth
from .errors import ParamError
from .motion_io import Motion

MAX_POINTS = 10_000
MIN_LENGTH_M = 0.3
MAX_LENGTH_M = 1_000.0
TRAVEL_SMOOTH_S = 0.5
"""The root smoothed over this long is the body's travel; the rest is sway."""
SWAY_LIMIT_M = 0.06
"""The sideways sway kept across the path is softly held within this (tanh):
a gait sways 2-4 cm; more is the action's own turning (a running turn's
travel smoothed over half a second cuts inside its corner by up to 12 cm),
which the path replaces."""
MIN_TRAVEL_M = 0.2
"""An action that travels less than this over its length does not follow a path."""
PACE_MARGIN = 1.3
"""A path without seconds: the action is made this much longer than its pace
suggests, then cut where it has covered the path (:func:`frames_to_cover`)."""
TURN_SMOOTH_S = 0.15
"""The path's direction is smoothed over this long (Gaussian sigma), so a corner
is turned over a few steps, not in one frame."""
SPIN_TURN_DEG_S = 90.0
"""How fast (degrees per second, over any 2 s: :data:`TURN_WINDOW_S`) a path may turn the
body before the result reads as a spin, not as the walk or run asked for.
Measured on the training clips with :func:`peak_turn_deg_s` itself: turning
walks and runs reach 39-47 deg/s (median clip), 50-53 (90th percentile) and
91 at most; dance and salsa 168 and 290 (median clip). A run round a 2 m
circle at its own pace turns about 170 deg/s, and the evaluator reads it as a
dance."""
TURN_WINDOW_S = 2.0
"""Turn rates are taken over this long: a spin is sustained turning, while a
sharp corner turned in a step or two is a pivot (90 degrees in 2 s is 45 deg/s)."""
SPEED_LIMIT = 1.6
"""How much faster (or slower, 1/limit) than the action's own pace a path may
ask before it is refused (the gait would look wrong)."""
TURN_PLAN_DEG_S = 70.0
"""A path given without seconds is covered no faster than turns the body this
fast (degrees per second over any :data:`TURN_WINDOW_S`, at an even pace
along the path): real runners slow down on a tight curve. The gait's surges
lift the measured peak (:func:`peak_turn_deg_s`) about 1.3-1.5x above this
even-pace rate (a 2 m circle in 5 s peaks at 94-105 deg/s), close to the
fastest turning run in the data (91). Measured with the shipped model (seeds
0-2): a run round a 2 m circle at its own pace (1.4-2.3 s a lap, 156-222
deg/s) reads as a salsa dance 3/3; asked as a running turn in 5 s, as one
3/3, in 4 s 1/3; as planned here (4.4-4.8 s, held by :data:`SPEED_LIMIT`),
as a run 2/3 (3 of seeds 0-5): the rest read as turning walks."""
SLOWING_WORTH = 1.1
"""The turns slow an action only when they ask for this much more time than
its own pace (a run's own pace varies more than that from seed to seed)."""
TURNING_VARIANTS: dict[str, tuple[str, str]] = {
    "run": ("run and turn left", "run and turn right"),
    "run forward": ("run and turn left", "run and turn right"),
}
"""An action made as its turning variant (left, right) on a path that turns
one way (:func:`one_way_turn`): the data's runs go straight, and a straight
run bent round a curve keeps its straight-line body (no lean, no shorter
inner stride); the running turns were captured turning. (Walks need none:
a straight walk bent round a 2 m circle already reads as a turning walk.)"""
ONE_WAY_TURN_DEG = 90.0
"""A path turns one way when it turns at least this far to one side ..."""
ONE_WAY_SHARE = 0.25
"""... and at most this share of that to the other (an S curve turns both ways)."""


@dataclass
class GroundPath:
    points: np.ndarray              # (N, 2) x, z in metres
    seconds: float | None = None
    leg_length: float | None = None  # the walker's leg length in the points' units (None: the model's body)

    @property
    def length(self) -> float:
        return float(np.linalg.norm(np.diff(self.points, axis=0), axis=-1).sum())


def parse_path(raw: Any, field: str = "path") -> GroundPath:
    """A checked path from ``{"points": [[x, z], ...], "seconds": s}`` (or the list alone)."""
    points = raw.get("points") if isinstance(raw, dict) else raw
    seconds = raw.get("seconds") if isinstance(raw, dict) else None
    leg = raw.get("leg_length") if isinstance(raw, dict) else None
    if isinstance(raw, dict):
        unknown = sorted(set(raw) - {"points", "seconds", "leg_length"})
        if unknown:
            raise ParamError(f"{field}.{unknown[0]}", "is not a path setting; a path has points, seconds and "
                                                     "leg_length")
    if not isinstance(points, list) or len(points) < 2:
        raise ParamError(f"{field}.points", "give at least two ground points [[x, z], ...] in metres")
    if len(points) > MAX_POINTS:
        raise ParamError(f"{field}.points", f"has {len(points)} points; at most {MAX_POINTS}")
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParamError(f"{field}.points", "must be a list of [x, z] number pairs") from None
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ParamError(f"{field}.points", f"must be [x, z] pairs, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ParamError(f"{field}.points", "holds NaN or infinite numbers")
    keep = np.concatenate([[True], np.linalg.norm(np.diff(arr, axis=0), axis=-1) > 1e-6])
    path = GroundPath(arr[keep])
    if len(path.points) < 2 or path.length < MIN_LENGTH_M:
        raise ParamError(f"{field}.points", f"the path is {path.length:.2f} m long; a path needs at least "
                                            f"{MIN_LENGTH_M:g} m")
    if path.length > MAX_LENGTH_M:
        raise ParamError(f"{field}.points", f"the path is {path.length:.0f} m long; at most {MAX_LENGTH_M:g} m")
    if seconds is not None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < float(seconds) <= 60:
            raise ParamError(f"{field}.seconds", f"must be a number of seconds up to 60, got {str(seconds)[:20]!r}")
        path.seconds = float(seconds)
    if leg is not None:
        if isinstance(leg, bool) or not isinstance(leg, (int, float)) or not 0.05 <= float(leg) <= 10:
            raise ParamError(f"{field}.leg_length", f"must be the walker's hip-to-ankle length in metres "
                                                    f"(0.05 to 10), got {str(leg)[:20]!r}")
        path.leg_length = float(leg)
    return path


def model_leg_length(offsets: np.ndarray) -> float:
    """Hip-to-knee plus knee-to-ankle (mean of the two legs) of a body's rest
    offsets: the measure the add-on scales root motion by."""
    from ..motion.skeleton import JOINT_NAMES
    idx = {n: i for i, n in enumerate(JOINT_NAMES)}
    return float(np.mean([np.linalg.norm(offsets[idx[s + "knee"]]) + np.linalg.norm(offsets[idx[s + "ankle"]])
                          for s in ("left_", "right_")]))


def for_body(path: GroundPath, offsets: np.ndarray) -> GroundPath:
    """``path`` scaled about its first point to the body with rest ``offsets``
    (see ``leg_length`` in the module docstring); unchanged without one."""
    if path.leg_length is None:
        return path
    k = model_leg_length(offsets) / path.leg_length
    return GroundPath(path.points[0] + (path.points - path.points[0]) * k, path.seconds)


def starting_at(path: GroundPath, xz: np.ndarray) -> GroundPath:
    """``path`` moved so that it starts at ground point ``xz`` (Continue: the
    character is already standing somewhere)."""
    return GroundPath(path.points - path.points[0] + np.asarray(xz, dtype=np.float64), path.seconds, path.leg_length)


def read_path_file(path: str | Path) -> GroundPath:
    """A path from a JSON file (as :func:`parse_path` takes) or a CSV of x,z rows."""
    from ..errors import MotionFileError
    path = Path(path)
    if path.suffix.lower() == ".csv":
        if not path.is_file():
            raise MotionFileError(path, "file not found")
        if path.stat().st_size > 4 * 1024 * 1024:
            raise MotionFileError(path, "is larger than 4 MB; a path has at most 10,000 points")
        rows = []
        for n, row in enumerate(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))), 1):
            if not row or row[0].strip().lower() in ("x", "#") or row[0].startswith("#"):
                continue
            try:
                rows.append([float(row[0]), float(row[1])])
            except (IndexError, ValueError):
                raise MotionFileError(path, f"line {n} is not 'x,z' in metres") from None
        raw: Any = {"points": rows}
    else:
        from ..jsonfile import read_json_file
        raw = read_json_file(path, max_bytes=4 * 1024 * 1024)
    try:
        return parse_path(raw)
    except ParamError as exc:
        raise MotionFileError(path, f"{exc.field}: {exc.message}") from None


def _arc(points: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=-1))])


def _at(points: np.ndarray, arc: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions (T, 2), unit tangents (T, 2)) at arc lengths ``s`` along the polyline."""
    s = np.clip(s, 0.0, arc[-1])
    seg = np.clip(np.searchsorted(arc, s, side="right") - 1, 0, len(points) - 2)
    span = np.maximum(arc[seg + 1] - arc[seg], 1e-12)
    w = ((s - arc[seg]) / span)[:, None]
    pos = points[seg] * (1 - w) + points[seg + 1] * w
    tangent = (points[seg + 1] - points[seg]) / span[:, None]
    return pos, tangent


def travel(motion: Motion) -> tuple[np.ndarray, float]:
    """(the root's smoothed ground travel (T, 2), its length in metres)."""
    sigma = max(1.0, TRAVEL_SMOOTH_S * motion.fps / 2)
    smooth = gaussian_smooth(motion.root_pos[:, [0, 2]], sigma)
    return smooth, float(_arc(smooth)[-1])


def travel_frame(motion: Motion) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the direction the body travelled, radians about +Y from +Z (T,); its
    progress along that direction, m (T,), from the root's own steps so the
    gait's surges stay; its sideways sway off the smoothed travel, m (T,))."""
    smooth, _ = travel(motion)
    d = np.gradient(smooth, axis=0)
    moving = np.linalg.norm(d, axis=-1) > 1e-6
    gen_angle = np.unwrap(np.arctan2(d[:, 0], d[:, 1]))
    if not moving.all():                                  # held where the body stands still
        idx = np.where(moving, np.arange(len(d)), 0)
        np.maximum.accumulate(idx, out=idx)
        gen_angle = gen_angle[idx]
    u = np.stack([np.sin(gen_angle), np.cos(gen_angle)], axis=-1)          # travel direction (x, z)
    n = np.stack([u[:, 1], -u[:, 0]], axis=-1)                              # its right-hand normal
    root_xz = motion.root_pos[:, [0, 2]]
    step = np.concatenate([[0.0], (np.diff(root_xz, axis=0) * u[1:]).sum(-1)])
    return gen_angle, np.cumsum(np.maximum(step, 0.0)), ((root_xz - smooth) * n).sum(-1)


def follow(motion: Motion, path: GroundPath) -> Motion:
    """``motion`` carried along ``path`` (module docstring)."""
    from ..motion.quaternion import axis_angle_to_quat, qmul
    _, length = travel(motion)
    if length < MIN_TRAVEL_M:
        raise ParamError("path", f"this action travels only {length:.2f} m in {motion.duration:.1f} s, so it "
                                 "cannot follow a path; ask for one that moves the body (a walk, a run)")
    gen_angle, along, lateral = travel_frame(motion)
    arc = _arc(path.points)
    pos, tangent = _at(path.points, arc, along * (arc[-1] / max(along[-1], 1e-9)))
    # the path's direction, smoothed so a corner turns over a few steps, not in one frame
    path_angle = np.unwrap(np.arctan2(tangent[:, 0], tangent[:, 1]))
    path_angle = gaussian_smooth(path_angle, max(1.0, TURN_SMOOTH_S * motion.fps))
    normal = np.stack([np.cos(path_angle), -np.sin(path_angle)], axis=-1)
    turn = path_angle - gen_angle                                           # (T,) about +Y
    root = motion.root_pos.copy()
    sway = SWAY_LIMIT_M * np.tanh(lateral / SWAY_LIMIT_M)
    root[:, [0, 2]] = pos + sway[:, None] * normal
    yaw = axis_angle_to_quat(np.array([0.0, 1.0, 0.0]), turn)
    quats = motion.local_quats.copy()
    quats[:, 0] = qmul(yaw, quats[:, 0])
    return motion.replace(quats, root)


def frames_to_cover(motion: Motion, path: GroundPath) -> int:
    """How many frames of ``motion`` it takes to travel the path's length at
    its own steps (all of them when it never gets that far). A path without
    seconds is walked for as long as that: the motion is made a little longer
    than its pace suggests (:data:`PACE_MARGIN`) and cut there, so its steps
    are not stretched onto the path (a short run starts slower than the pace
    of a longer one: stretched, its feet slid 2-3x as much as real runs)."""
    _, along, _ = travel_frame(motion)
    return int(min(motion.num_frames, np.searchsorted(along, path.length) + 1))


def pace_seconds(motion: Motion, path: GroundPath) -> float:
    """How long the action takes to cover the path at its own pace."""
    _, length = travel(motion)
    speed = length / max(motion.duration, 1e-6)
    return path.length / max(speed, 1e-6)


def check_pace(motion: Motion, path: GroundPath, action: str | None) -> None:
    """Refuse a path the action would have to cover far faster or slower than it moves."""
    own = pace_seconds(motion, path)
    if path.seconds is None:
        return
    ratio = own / path.seconds                                         # > 1: the path asks for more speed
    what = action or "this action"
    if ratio > SPEED_LIMIT:
        raise ParamError("path.seconds", f"{path.length:.1f} m in {path.seconds:g} s is {ratio:.1f}x the pace of "
                                         f"{what} ({path.length / own:.2f} m/s); give more seconds "
                                         f"(about {own:.1f}) or ask for a run")
    if ratio < 1 / SPEED_LIMIT:
        raise ParamError("path.seconds", f"{path.length:.1f} m in {path.seconds:g} s is {1 / ratio:.1f}x slower than "
                                         f"{what} moves ({path.length / own:.2f} m/s); give fewer seconds "
                                         f"(about {own:.1f}) or a slower action")


def peak_turn_deg_s(motion: Motion) -> float:
    """The fastest the body's facing turns over any :data:`TURN_WINDOW_S`,
    degrees per second (the whole motion when it is shorter)."""
    from ..motion.features import facing_yaw
    yaw = np.unwrap(facing_yaw(motion.positions()))
    window = max(1, min(len(yaw) - 1, int(round(TURN_WINDOW_S * motion.fps))))
    if len(yaw) < 2:
        return 0.0
    return float(np.degrees(np.abs(yaw[window:] - yaw[:-window]).max()) * motion.fps / window)


def _direction(path: GroundPath, s: np.ndarray) -> np.ndarray:
    """The path's direction (radians about +Y from +Z, unwrapped; growing
    means turning left) at arc lengths ``s``: each segment's direction at its
    middle, interpolated between, so a polyline circle turns evenly rather
    than in steps at its corners."""
    arc = _arc(path.points)
    d = np.diff(path.points, axis=0)
    angle = np.unwrap(np.arctan2(d[:, 0], d[:, 1]))
    return np.interp(s, 0.5 * (arc[1:] + arc[:-1]), angle)


def path_turn_deg_s(path: GroundPath, seconds: float, samples: int = 512) -> float:
    """How fast (degrees per second, the most over any :data:`TURN_WINDOW_S`)
    the path turns a body that covers it at an even pace in ``seconds``. It
    depends on the path's shape and the seconds alone, not on its units, so
    it is the same for the animator's curve and for the body-scaled one."""
    length = path.length
    window_s = min(TURN_WINDOW_S, float(seconds))
    span = length * window_s / max(float(seconds), 1e-9)          # metres covered in one window
    start = np.linspace(0.0, max(length - span, 0.0), samples)
    turn = np.abs(_direction(path, start + span) - _direction(path, start)).max()
    return float(np.degrees(turn) / max(window_s, 1e-9))


def seconds_for_turns(path: GroundPath) -> float:
    """The fewest seconds in which an even pace along the path turns the body
    no faster than :data:`TURN_PLAN_DEG_S` (the turn rate falls as the seconds
    grow, so a bisection finds it)."""
    lo, hi = 0.05, 600.0
    if path_turn_deg_s(path, lo) <= TURN_PLAN_DEG_S:
        return lo
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if path_turn_deg_s(path, mid) > TURN_PLAN_DEG_S else (lo, mid)
    return hi


def one_way_turn(path: GroundPath) -> tuple[str | None, float]:
    """('left' or 'right', degrees) when the path turns mostly one way
    (:data:`ONE_WAY_TURN_DEG`, :data:`ONE_WAY_SHARE`), else (None, degrees of
    its larger side)."""
    step = np.diff(_direction(path, np.linspace(0.0, path.length, 1024)))
    left, right = float(np.degrees(step[step > 0].sum())), float(np.degrees(-step[step < 0].sum()))
    side, most, least = ("left", left, right) if left >= right else ("right", right, left)
    if most >= ONE_WAY_TURN_DEG and least <= ONE_WAY_SHARE * most:
        return side, most
    return None, most


def reading_for_path(reading, vocabulary, path: GroundPath, seconds: float):
    """``reading`` made as its turning variant (:data:`TURNING_VARIANTS`)
    where covering ``path`` in ``seconds`` turns the body faster than
    :data:`TURN_PLAN_DEG_S`, the path turns one way and the model knows the
    variant; with a note that says so. Unchanged otherwise (a reading already
    turning, a wide curve, an S curve, a model without a vocabulary): a
    running turn is one short clip in the data, so a long run round a wide
    curve stays a run (round an 8 m circle in 15 s the turning run fell apart
    into waving in 2 of 3 seeds)."""
    import dataclasses
    if reading is None or vocabulary is None or reading.action not in TURNING_VARIANTS:
        return reading
    if path_turn_deg_s(path, seconds) <= TURN_PLAN_DEG_S:
        return reading
    side, degrees = one_way_turn(path)
    if side is None:
        return reading
    label = TURNING_VARIANTS[reading.action][0 if side == "left" else 1]
    if label not in vocabulary.labels:
        return reading
    turning = vocabulary.action(label)
    note = (f"The path turns {side} ({degrees:.0f} degrees), so the {reading.action} is made as a {label} "
            f"(\"{turning.description}\"), the way real runners turn")
    if reading.style and reading.style != "normal":
        note += f"; its style ({reading.style}) is not kept: the data's running turns have none"
    return dataclasses.replace(reading, action=label, model_text=turning.description, description=turning.description,
                               style=None, side=side, seconds=turning.median_seconds,
                               notes=[*reading.notes, note])


def spin_note(path: GroundPath, seconds: float, action: str | None) -> str | None:
    """What to tell the animator when covering ``path`` in ``seconds`` turns
    the body faster than walks and runs ever turn (:data:`SPIN_TURN_DEG_S`,
    at an even pace: :func:`path_turn_deg_s`); None when it does not. The
    motion is kept: the path is the animator's."""
    rate = path_turn_deg_s(path, seconds)
    if rate <= SPIN_TURN_DEG_S:
        return None
    what = action or "this action"
    return (f"the path turns the body at up to {rate:.0f} degrees per second, faster than walks and runs turn in "
            f"the training data (about 55 at most), so the {what} will look more like a spin: widen the curve, "
            "give the path more seconds, or walk it")


def slowed_note(path: GroundPath, seconds: float, action: str | None) -> str:
    """What to tell the animator when a path given without seconds took
    ``seconds`` because its turns were too tight for the action's own pace
    (:func:`engine.pipeline.tasks.plan_path`)."""
    what = action or "the action"
    return (f"its turns are tight, so the {what} takes {seconds:.1f} s ({path.length / seconds:.1f} m/s), slower "
            "than its own pace, so the body turns no faster than people turn in the training data; give the path "
            "seconds to set the pace yourself")


def add_path_note(understood: dict[str, Any] | None, path: GroundPath, seconds: float, action: str | None,
                  paced_here: bool = False) -> None:
    """Where covering ``path`` in ``seconds`` turned the body into a spin, or
    (``paced_here``: the engine chose the seconds, generate without them) its
    tight turns slowed the action, say so in the reading ``understood``
    (``path_note``, and appended to the ``message`` the add-on shows); the one
    place generate, continue and timeline items say it."""
    if understood is None:
        return
    notes = [n for n in (slowed_note(path, seconds, action) if paced_here else None,
                         spin_note(path, seconds, action)) if n]
    if notes:
        understood["path_note"] = "; ".join(notes)
        understood["message"] = f"{understood['message']}. Path: {understood['path_note']}"


def heading_errors_deg(motion: Motion, path: GroundPath) -> np.ndarray:
    """Per frame, the angle between the body's facing and the path's direction
    at the nearest path point (for the benchmark)."""
    from ..motion.features import facing_yaw
    joints = motion.positions()
    yaw = facing_yaw(joints)
    forward = np.stack([np.sin(yaw), np.cos(yaw)], axis=-1)
    arc = _arc(path.points)
    dense = _at(path.points, arc, np.linspace(0, arc[-1], 2000))
    near = np.argmin(np.linalg.norm(joints[:, None, 0, [0, 2]] - dense[0][None], axis=-1), axis=1)
    t = dense[1][near]
    cos = np.clip((forward * t).sum(-1) / np.maximum(np.linalg.norm(forward, axis=-1), 1e-9), -1, 1)
    return np.degrees(np.arccos(cos))


def distance_to_path(motion: Motion, path: GroundPath) -> np.ndarray:
    """Per frame, the horizontal distance (m) from the root to the path."""
    arc = _arc(path.points)
    dense = _at(path.points, arc, np.linspace(0, arc[-1], max(2000, int(arc[-1] * 200))))[0]
    root = motion.root_pos[:, [0, 2]]
    return np.linalg.norm(root[:, None] - dense[None], axis=-1).min(axis=1)


