"""Compose a shot from several prompts: one after another, and at once on
different body parts (the ``compose`` task).

A timeline is a list of items ``{"text", "start", "end", "parts"}`` (seconds;
``parts`` absent for the whole body, else some of :data:`BODY_PARTS`). It is
made with this model's own tasks, the way STMC and FlowMDM split the work:

* **Base track** (whole-body and lower-body items, one after another): each
  item's action is generated alone for its span, turned and moved to start
  where the body stands; the frames before the first item and after the
  last hold a pose. Consecutive items are joined by a generated transition,
  conditioned on both sides (the model's in-between on a window around the
  join): a gap between items is the transition; items that touch get one
  of ``transition`` seconds centred on the boundary. A transition whose
  fastest joint outpaces both sides (:data:`JOIN_SPEED_RATIO`) is drawn
  again; if no draw keeps the pace, a plain eased blend of the two poses,
  widened into the neighbours as far as it needs (:data:`JOIN_WIDEN_S`);
  failing all, the slowest of those.
* **Body parts** (upper body, arms, head at the same time as a base item,
  which they override on those parts; two base items, or two part items
  sharing a joint, may not overlap):
  the item's action is generated alone and its local joint rotations of
  those parts replace the base's during its span, eased in and out over
  :data:`PART_EASE_S`, through the spine and collars with partial weights
  (:data:`PART_WEIGHTS`), so a wave rides on a walk: root and legs from the
  walk, the arm from the wave. The limbs hung from those partial joints
  (arms, head) keep the gesture's angle to gravity and take the walk's
  heading, so a raised hand stays as high on a leaning torso.
* **Paths** (issue 20): a whole-body or lower-body item may carry a
  ``path`` (:func:`engine.pipeline.path_follow.parse_path`, without its own
  seconds: the item's span is how long it takes). Its action is carried
  along the path's shape and direction, starting where the body stands
  when the item begins (the shot starts at the origin), as Continue does;
  the transition into it turns the body onto the path.
* An item that asks for a still pose ("stands still", "waits") holds the
  pose the body reached (this model has no idle motion), and says so.
* The foot cleanup runs on the result; each item says how its prompt was
  read; item i draws with seed ``seed + i``, join j with ``seed + 1000 + j``
  (its redraws add 100 each), so one seed makes the same shot again.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..motion import skeleton as sk
from ..motion.kinematics import forward_kinematics
from ..motion.quaternion import axis_angle_to_quat, qinv, qmul, qrot, slerp, twist_about_y
from .errors import ParamError
from .motion_io import MAX_SECONDS, Motion
from .post import PostOptions

BODY_PARTS: dict[str, tuple[str, ...]] = {
    "lower_body": ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
                   "left_foot", "right_foot"),
    "upper_body": ("spine1", "spine2", "spine3", "neck", "head", "left_collar", "right_collar", "left_shoulder",
                   "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist"),
    "left_arm": ("left_collar", "left_shoulder", "left_elbow", "left_wrist"),
    "right_arm": ("right_collar", "right_shoulder", "right_elbow", "right_wrist"),
    "head": ("neck", "head"),
}
"""Which of the 22 joints each body part moves (the one place that says so)."""
PART_WEIGHTS: dict[str, float] = {"spine1": 0.3, "spine2": 0.5, "spine3": 0.7, "left_collar": 0.6,
                                  "right_collar": 0.6, "neck": 0.7}
"""How much of a part item's rotation the joints where the parts meet take
(the rest stays the base's): a smooth blend through spine and shoulders."""
PART_EASE_S = 0.3
DEFAULT_TRANSITION_S = 0.8
"""Length of the transition made between two items that touch."""
JOIN_CONTEXT_S = 2.0
"""Motion shown to the in-between on each side of a join."""
HELD_POSE_S = 1.5
"""Share of a typed chain a still beat takes ("walks in, stops, waves"): a
beat, not the nearest action's typical length."""
JOIN_SPEED_RATIO = 1.5
"""A transition whose fastest joint outpaces the items on either side (their
95th-percentile peak speed) by more than this reads as a pop."""
JOIN_TRIES = 3
"""Generated transitions drawn for a join before the smoothest is kept."""
JOIN_WIDEN_S = 0.5
"""How far an eased blend may reach into each neighbour (at most half of it,
and never into an item that holds a pose) when neither the drawn transitions
nor a blend of the join's own length keep the pace: two poses far apart (a
wave's raised arm, a bow's bent back) need more than 0.8 s to meet without a pop."""
MAX_ITEMS = 16
MODEL_FPS = sk.FPS


@dataclass
class Item:
    index: int
    text: str
    start: float
    end: float
    parts: tuple[str, ...] | None = None          # None: the whole body
    path: Any = None                              # a GroundPath (its seconds: the span), base items only

    @property
    def joints(self) -> set[str]:
        if self.parts is None:
            return set(sk.JOINT_NAMES)
        return {j for p in self.parts for j in BODY_PARTS[p]}

    @property
    def is_base(self) -> bool:
        return self.parts is None or "lower_body" in self.parts


@dataclass
class Timeline:
    items: list[Item]
    transition: float = DEFAULT_TRANSITION_S
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return max(i.end for i in self.items)


def _number(value: Any, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise ParamError(field_name, f"must be a number of seconds, got {str(value)[:40]!r}")
    return float(value)


def parse_timeline(raw: Any, transition: Any = None) -> Timeline:
    """The checked timeline of ``{"items": [...]}`` (or the list itself);
    each problem is a ParamError naming the item (``items[2].end``)."""
    items_raw = raw.get("items") if isinstance(raw, dict) else raw
    if not isinstance(items_raw, list) or not items_raw:
        raise ParamError("items", 'give a list of items like [{"text": "a person walks", "start": 0, "end": 4}]')
    if len(items_raw) > MAX_ITEMS:
        raise ParamError("items", f"has {len(items_raw)} items; a timeline holds at most {MAX_ITEMS}")
    items = []
    for i, it in enumerate(items_raw):
        where = f"items[{i}]"
        if not isinstance(it, dict):
            raise ParamError(where, "must be an object with text, start, end and optionally parts and path")
        unknown = set(it) - {"text", "start", "end", "parts", "path"}
        if unknown:
            raise ParamError(f"{where}.{sorted(unknown)[0]}", "unknown key; an item has text, start, end, parts, "
                                                              "path")
        text = it.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ParamError(f"{where}.text", "is empty; say what happens, e.g. \"a person waves\"")
        start, end = _number(it.get("start"), f"{where}.start"), _number(it.get("end"), f"{where}.end")
        if start < 0:
            raise ParamError(f"{where}.start", f"must be 0 or later, got {start:g}")
        if end <= start:
            raise ParamError(f"{where}.end", f"must be after its start ({start:g} s), got {end:g} s")
        if end > MAX_SECONDS:
            raise ParamError(f"{where}.end", f"is {end:g} s; a shot lasts at most {MAX_SECONDS:g} s in all")
        parts = it.get("parts")
        if parts is not None:
            if not isinstance(parts, list) or not parts or not all(isinstance(p, str) for p in parts):
                raise ParamError(f"{where}.parts", f"must be a list of body parts: {', '.join(BODY_PARTS)}")
            bad = [p for p in parts if p not in BODY_PARTS]
            if bad:
                raise ParamError(f"{where}.parts", f"unknown body part {bad[0]!r}; the parts are "
                                                   f"{', '.join(BODY_PARTS)}")
            parts = tuple(dict.fromkeys(parts))
        item = Item(i, " ".join(text.split()), start, end, parts)
        if it.get("path") is not None:
            item.path = _item_path(it["path"], item, where)
        items.append(item)
    for a in items:
        for b in items:
            if b.index <= a.index or b.start >= a.end or a.start >= b.end:
                continue
            # one base (whole or lower body) at a time; part items ride on it and may not share joints
            clash = (a.is_base and b.is_base) or (not a.is_base and not b.is_base and a.joints & b.joints)
            if clash:
                raise ParamError(f"items[{b.index}]", f"overlaps items[{a.index}] in time "
                                                      f"({max(a.start, b.start):g}-{min(a.end, b.end):g} s) on the "
                                                      f"same body part ({_part_words(a, b)}); move it or give them "
                                                      "different parts")
    if not any(i.is_base for i in items):
        raise ParamError("items", "no item moves the whole body or the lower body: add one for what the legs do "
                                  "(e.g. \"a person stands still\" or \"a person walks\")")
    t = DEFAULT_TRANSITION_S if transition is None else _number(transition, "transition")
    if not 0.2 <= t <= 3.0:
        raise ParamError("transition", f"must be 0.2 to 3 seconds, got {t:g}")
    return Timeline(items, t)


def _item_path(raw: Any, item: Item, where: str):
    """The checked path of a base item, taking the item's span as its seconds."""
    from .path_follow import parse_path
    if not item.is_base:
        raise ParamError(f"{where}.path", "only an item that moves the legs (the whole body or lower_body) can "
                                          "follow a path")
    path = parse_path(raw, f"{where}.path")
    span = item.end - item.start
    if path.seconds is not None and abs(path.seconds - span) > 1e-6:
        raise ParamError(f"{where}.path.seconds", f"the item lasts {span:g} s, so its path takes that long; leave "
                                                  "path.seconds out or make it equal")
    path.seconds = span
    return path


def _part_words(a: Item, b: Item) -> str:
    for item in (a, b):
        if item.parts is None:
            return "the whole body"
    common = sorted(set(a.parts) & set(b.parts))
    if common:
        return ", ".join(common)
    return f"{' + '.join(a.parts)} and {' + '.join(b.parts)} share joints"


# ------------------------------------------------------------------------------
# placing and joining

def _facing_yaw(motion: Motion, frame: int) -> float:
    """Heading (radians about +Y, 0 = facing +Z) of the body at a frame."""
    from ..motion.features import facing_yaw
    return float(facing_yaw(motion.positions()[frame][None])[0])


def place_after(motion: Motion, previous: Motion) -> Motion:
    """``motion`` turned about Y and moved on the ground so it starts facing
    the way ``previous`` ends and where its root ends (height kept)."""
    turn = axis_angle_to_quat(np.array([0.0, 1.0, 0.0]), _facing_yaw(previous, -1) - _facing_yaw(motion, 0))
    quats = motion.local_quats.copy()
    quats[:, 0] = qmul(np.broadcast_to(turn, quats[:, 0].shape), quats[:, 0])
    root = motion.root_pos - motion.root_pos[0] * np.array([1.0, 0.0, 1.0])
    root = qrot(np.broadcast_to(turn, root.shape[:-1] + (4,)), root)
    root[:, [0, 2]] += previous.root_pos[-1, [0, 2]]
    return motion.replace(quats, root)


def hold(motion: Motion, frame: int, count: int) -> Motion:
    """``count`` frames of pose ``frame`` of ``motion`` (negative counts from the end)."""
    frame = frame % motion.num_frames
    return Motion(np.repeat(motion.local_quats[frame:frame + 1], count, axis=0),
                  np.repeat(motion.root_pos[frame:frame + 1], count, axis=0), motion.offsets, motion.fps)


def concat(parts: list[Motion]) -> Motion:
    first = parts[0]
    return Motion(np.concatenate([p.local_quats for p in parts]), np.concatenate([p.root_pos for p in parts]),
                  first.offsets, first.fps)


def part_weights(item: Item) -> np.ndarray:
    """(22,) how much of a part item's local rotation each joint takes."""
    w = np.zeros(sk.NUM_JOINTS)
    for name in item.joints:
        w[sk.JOINT_INDEX[name]] = PART_WEIGHTS.get(name, 1.0)
    return w


def merge_part(base: Motion, gesture: Motion, item: Item, start_frame: int) -> Motion:
    """``base`` with ``gesture``'s local rotations of the item's parts from
    ``start_frame`` on, eased in and out, through the spine with partial
    weights. The limbs that hang from those partial joints (the arms from the
    collars, the head from the neck) keep the gesture's angle to gravity
    instead (:func:`_hung_from_base`): a hand raised above the head stays
    raised when the walk's torso leans differently from the torso the wave
    was made on."""
    n = min(gesture.num_frames, base.num_frames - start_frame)
    if n <= 0:
        return base
    ease = max(1, int(round(PART_EASE_S * base.fps)))
    ramp = np.ones(n)
    k = min(ease, n // 2)
    if k > 0:
        s = np.arange(k) / k
        ramp[:k] = s * s * (3 - 2 * s)
        ramp[n - k:] = ramp[:k][::-1]
    weights = part_weights(item)
    w = ramp[:, None] * weights[None]                                 # (n, 22)
    quats = base.local_quats.copy()
    window = slice(start_frame, start_frame + n)
    quats[window] = slerp(quats[window], gesture.local_quats[:n], w)
    hung = [j for j in range(sk.NUM_JOINTS)
            if weights[j] == 1.0 and sk.PARENTS[j] >= 0 and weights[sk.PARENTS[j]] < 1.0]
    if hung:
        level = _hung_from_base(quats[window], base.root_pos[window], gesture.world_quats()[:n], base.offsets, hung)
        quats[window, hung] = slerp(base.local_quats[window, hung], level, ramp[:, None])
    return base.replace(quats, base.root_pos.copy())


def _hung_from_base(quats: np.ndarray, root_pos: np.ndarray, gesture_world: np.ndarray, offsets: np.ndarray,
                    joints: list[int]) -> np.ndarray:
    """Local rotations (F, len(joints), 4) that give ``joints`` the
    gesture's world rotation with its heading swapped for the merged
    parent's: level and tilt from the gesture, heading from the body it now
    hangs from."""
    _, world = forward_kinematics(quats, root_pos, offsets, sk.PARENTS)
    parents = [int(sk.PARENTS[j]) for j in joints]
    parent_now, parent_then = world[:, parents], gesture_world[:, parents]
    turn = qmul(twist_about_y(parent_now), qinv(twist_about_y(parent_then)))
    return qmul(qinv(parent_now), qmul(turn, gesture_world[:, joints]))


def peak_joint_speed(motion: Motion) -> np.ndarray:
    """(T-1,) the fastest joint's speed (m/s) between consecutive frames."""
    return (np.linalg.norm(np.diff(motion.positions(), axis=0), axis=-1) * motion.fps).max(axis=1)


def join_speed_limit(shot: Motion, left: slice, right: slice) -> float:
    """How fast a transition may move: :data:`JOIN_SPEED_RATIO` times the
    larger 95th-percentile peak joint speed of the motion on either side
    (inf when neither side has frames to measure)."""
    speed = peak_joint_speed(shot)
    sides = [speed[s.start:max(s.start, s.stop - 1)] for s in (left, right)]
    sides = [x for x in sides if len(x) >= 3]
    return JOIN_SPEED_RATIO * max(float(np.percentile(x, 95)) for x in sides) if sides else math.inf


def eased(shot: Motion, f0: int, f1: int) -> Motion:
    """Frames f0+1..f1-1 as a smoothstep SLERP of every local rotation and a
    smoothstep of the root between the poses at f0 and f1 (no speed peak
    beyond 1.5x the straight line's average)."""
    from .blend import smoothstep
    w = smoothstep(np.arange(1, f1 - f0) / (f1 - f0))
    quats, root = shot.local_quats.copy(), shot.root_pos.copy()
    quats[f0 + 1:f1] = slerp(quats[f0][None], quats[f1][None], w[:, None])
    root[f0 + 1:f1] = (1 - w)[:, None] * root[f0] + w[:, None] * root[f1]
    return shot.replace(quats, root)


def _join(model, shot: Motion, f0: int, f1: int, limit: float, seed: int, options: PostOptions,
          reach: tuple[int, int] | None = None) -> Motion:
    """The shot with frames f0+1..f1-1 made by the model's in-between,
    conditioned on :data:`JOIN_CONTEXT_S` of motion either side. A
    transition faster than ``limit`` (a pop the eye sees) is drawn again, up
    to :data:`JOIN_TRIES` times; if none keeps under it, a plain eased
    blend, widened step by step up to the frames ``reach`` (lo, hi) allows,
    and else the slowest of all of those is kept."""
    from . import tasks
    context = int(JOIN_CONTEXT_S * MODEL_FPS)
    w0, w1 = max(0, f0 - context), min(shot.num_frames, f1 + context + 1)
    a0, a1 = max(0, f0 - 3), min(shot.num_frames, f1 + 4)   # the transition and its first steps either side
    best, best_peak = shot, math.inf
    for attempt in range(JOIN_TRIES):
        window = tasks.inbetween(model, shot.slice(w0, w1), f0 - w0, f1 - w0, seed=seed + 100 * attempt,
                                 options=options)
        quats, root = shot.local_quats.copy(), shot.root_pos.copy()
        quats[f0 + 1:f1] = window.local_quats[f0 - w0 + 1:f1 - w0]
        root[f0 + 1:f1] = window.root_pos[f0 - w0 + 1:f1 - w0]
        candidate = shot.replace(quats, root)
        peak = float(peak_joint_speed(candidate.slice(a0, a1)).max())
        if peak < best_peak:
            best, best_peak = candidate, peak
        if peak <= limit:
            return candidate
    lo, hi = reach if reach is not None else (f0, f1)
    tried = None
    for widen in range(0, int(round(JOIN_WIDEN_S * MODEL_FPS)) + 1, max(1, int(round(0.1 * MODEL_FPS)))):
        g0, g1 = max(lo, f0 - widen), min(hi, f1 + widen)
        if (g0, g1) == tried:
            break                                              # no room left to widen into
        tried = (g0, g1)
        blend = eased(shot, g0, g1)
        peak = float(peak_joint_speed(blend.slice(max(0, g0 - 3), min(shot.num_frames, g1 + 4))).max())
        if peak < best_peak:
            best, best_peak = blend, peak
        if peak <= limit:
            return blend
    return best


# ------------------------------------------------------------------------------
# the task

def compose(model, timeline: Timeline, seed: int = 0, fps: float = MODEL_FPS,
            options: PostOptions = PostOptions(), progress=None, cancelled=None) -> tuple[Motion, list[dict]]:
    """The shot and, per item, how its prompt was read (module docstring)."""
    from . import tasks
    steps = len(timeline.items) * 2
    done = [0]

    def step(message: str) -> None:
        done[0] += 1
        if cancelled is not None and cancelled():
            from .errors import JobCancelled
            raise JobCancelled()
        if progress is not None:
            progress(min(0.95, done[0] / steps), message)

    readings = {}
    for item in timeline.items:
        readings[item.index] = tasks.read_prompt(model, item.text, field=f"items[{item.index}].text", path=item.path)
    raw = PostOptions(foot_cleanup=False, in_place=False)
    fps_m = MODEL_FPS
    total = int(round(timeline.duration * fps_m)) + 1
    base_items = sorted((i for i in timeline.items if i.is_base), key=lambda i: i.start)
    pieces: list[Motion] = []
    joins: list[tuple[int, int]] = []
    cursor = 0
    for k, item in enumerate(base_items):
        step(f"item {item.index + 1}: {item.text}")
        first = int(round(item.start * fps_m))
        last = int(round(item.end * fps_m))
        reading = readings[item.index]
        if is_held_pose(reading):          # "stands still": the pose the shot reached (first item: a made first pose)
            source = pieces[-1] if pieces else tasks.generate(model, reading, seconds=1.0, seed=seed + item.index,
                                                               options=raw)[0]
            made = hold(source, -1 if pieces else 0, last - first + 1)
        elif item.path is not None:
            made = _along_path(model, reading, item, pieces[-1] if pieces else None, (last - first + 1) / fps_m,
                               seed + item.index, raw)
        else:
            made = tasks.generate(model, reading, seconds=(last - first + 1) / fps_m,
                                  seed=seed + item.index, options=raw)[0]
        if pieces:
            made = made if item.path is not None else place_after(made, pieces[-1])
            if first > cursor:                                     # a gap: the transition
                pieces.append(hold(pieces[-1], -1, first - cursor))
                joins.append((cursor - 1, first))
            else:                                                  # they touch: a transition across the boundary
                half = max(2, int(round(timeline.transition * fps_m / 2)))
                made = made.slice(cursor - first, made.num_frames) if cursor > first else made
                joins.append((max(cursor - 1 - half, 0), cursor + half))
        elif first > 0:
            pieces.append(hold(made, 0, first))                    # before the first item: its first pose
        pieces.append(made)
        cursor = sum(p.num_frames for p in pieces)
    shot = concat(pieces)
    if shot.num_frames < total:
        shot = concat([shot, hold(shot, -1, total - shot.num_frames)])
    shot = shot.slice(0, total)
    for j, (f0, f1) in enumerate(joins):
        step(f"transition {j + 1}")
        f1 = min(f1, shot.num_frames - 1)
        if f1 - f0 < 2:
            continue
        left = slice(joins[j - 1][1] if j > 0 else 0, f0)
        right = slice(f1, joins[j + 1][0] if j + 1 < len(joins) else shot.num_frames)
        held = [is_held_pose(readings[i.index]) for i in base_items[j:j + 2]]
        reach = (f0 if held[0] else f0 - (f0 - left.start) // 2,            # at most half of either neighbour,
                 f1 if held[-1] else f1 + (right.stop - f1) // 2)           # and none of a pose asked to hold still
        shot = _join(model, shot, f0, f1, join_speed_limit(shot, left, right), seed + 1000 + j, raw, reach)
    for item in sorted((i for i in timeline.items if not i.is_base), key=lambda i: i.start):
        step(f"item {item.index + 1} on {', '.join(item.parts)}: {item.text}")
        first = int(round(item.start * fps_m))
        last = min(int(round(item.end * fps_m)), shot.num_frames - 1)
        gesture = tasks.generate(model, readings[item.index], seconds=(last - first + 1) / fps_m,
                                 seed=seed + item.index, options=raw)[0]
        shot = merge_part(shot, gesture, item, first)
    shot = tasks.post_process(shot, options, (0, shot.num_frames))
    if fps != fps_m:                              # the shot's frames at fps, both ends included
        shot = shot.resample(fps, int(round(timeline.duration * fps)) + 1)
    if progress is not None:
        progress(1.0, "done")
    understood = [{"item": i.index, "text": i.text, "start": i.start, "end": i.end,
                   "parts": list(i.parts) if i.parts else None,
                   "understood_as": _understood(readings[i.index], i, shot)}
                  for i in timeline.items]
    return shot, understood


def _along_path(model, reading, item: Item, previous: Motion | None, seconds: float, seed: int,
                options: PostOptions) -> Motion:
    """The item's action carried along its path, the path moved to start
    where ``previous`` ends (the origin for the first item). A path the
    action cannot follow is a ParamError naming the item."""
    from . import tasks
    from .path_follow import GroundPath, starting_at
    start = previous.root_pos[-1, [0, 2]] if previous is not None else np.zeros(2)
    path = starting_at(GroundPath(item.path.points, seconds, item.path.leg_length), start)
    try:
        return tasks.generate(model, reading, seed=seed, options=options, path=path)[0]
    except ParamError as exc:
        raise ParamError(f"items[{item.index}].{exc.field}", exc.message) from None


def is_held_pose(reading) -> bool:
    """Whether a prompt asks for a still pose this model has no motion for
    ("stands still", "waits", "poses"): in a shot that is the pose the body
    reached, held, rather than the nearest action the model knows (which for
    standing still was a get-up from the floor)."""
    return reading is not None and reading.known is False and reading.holds_pose


def _understood(reading, item: Item, shot: Motion) -> dict | None:
    if reading is None:
        return None
    out = reading.to_dict()
    if is_held_pose(reading) and item.is_base:
        out["message"] = (f"outside what this model knows ({reading.outside}): it has no idle motion, so the "
                          "shot holds the pose the body reached")
    if item.path is not None:
        from .path_follow import add_path_note
        add_path_note(out, item.path, item.end - item.start, reading.action)
    return out


# ------------------------------------------------------------------------------
# a prompt that chains actions

def chained_pieces(text: str):
    """The pieces of a prompt that chains actions, or None when it names one."""
    from ..prompts.chaining import split_chain
    pieces = split_chain(text)
    return pieces if len(pieces) > 1 else None


def generate_chain(model, text: str, seconds: float | None, seed: int, variants: int = 1, fps: float = MODEL_FPS,
                   options: PostOptions = PostOptions(), progress=None, cancelled=None) -> tuple[list[Motion], dict]:
    """``generate`` for a prompt that chains actions: read as a timeline
    (:mod:`engine.prompts.chaining`) and composed; variant i with seed
    ``seed + 100 * i``. Returns the motions and the reading, whose
    ``message`` lists every item with its span and how it was read (and
    ``items`` holds them as ``compose`` returns them)."""
    from ..prompts.chaining import timeline_items
    from . import tasks
    pieces = chained_pieces(text)
    readings = [tasks.read_prompt(model, p.text, field="text") for p in pieces]
    typical = [HELD_POSE_S if is_held_pose(r) else min(float(r.seconds or 4.0), 6.0) for r in readings]
    total = None if seconds is None else float(seconds)
    if total is None:
        total = min(MAX_SECONDS, sum(t for t, p in zip(typical, pieces) if not p.at_once))
    items = timeline_items(pieces, typical, total, fixed=[is_held_pose(r) for r in readings])
    timeline = parse_timeline({"items": items})
    frames = max(2, int(round(total * fps)))              # as many frames as generate gives for that length
    motions = []
    for v in range(int(variants)):
        motion, understood = compose(model, timeline, seed=seed + 100 * v, fps=MODEL_FPS, options=options,
                                     progress=progress, cancelled=cancelled)
        motions.append(motion.resample(fps, frames))
    lines = []
    for entry in understood:
        part = f" on the {', '.join(entry['parts']).replace('_', ' ')}" if entry["parts"] else ""
        said = (entry["understood_as"] or {}).get("message", entry["text"])
        lines.append(f"{entry['start']:g}-{entry['end']:g} s{part}: \"{entry['text']}\" {said}")
    message = f"read as a timeline of {len(understood)} items: " + "; ".join(lines)
    return motions, {"message": message, "known": all((e["understood_as"] or {}).get("known", True)
                                                       for e in understood),
                     "timeline": lines, "items": understood}
