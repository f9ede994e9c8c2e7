"""The four tasks on Motions at any frame rate, shared by the CLI and the server.

The model (:class:`engine.models.motiongpt.MotionGPT`) speaks raw 263-dim
HumanML3D features at 20 fps on a canonical body that starts at the origin
facing +Z. These functions do everything around it: resample to 20 fps and
back, joints <-> features, map the answer back into the input's world frame,
solve joint rotations, make keys exact and seams continuous, post-process.

Every task takes ``progress(fraction, message)`` and ``cancelled()``
callbacks (both optional). ``cancelled`` is checked between stages and,
through :func:`engine.lm.generate.cancel_check`, after every generated token;
when it returns True the task raises :class:`JobCancelled`.

Generated joints are not rigid: features_to_joints rebuilds positions from
per-frame joint offsets (RIC) that the decoder does not constrain to fixed
bone lengths, so :func:`solve_rotations` (median bone lengths) reproduces them
only approximately; :func:`engine.motion.rotations.reconstruction_error_mm`
measures it. Measured: 0 mm on features of real (rigid) motion, about 3-5 mm
mean and 1.5-2 cm worst joint on the tiny test model's output (VQ round trip
of real clips: about 2 mm mean, 1.5 cm worst). The returned rotations are the
truth from then on: ``Motion.positions()`` is their forward kinematics.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ..lm.generate import GenerationCancelled, cancel_check
from ..lm.vocab import DEFAULT_MAX_TOKENS, FRAMES_PER_TOKEN, seconds_to_tokens
from ..models.motiongpt import CONTINUE_CONTEXT_TOKENS
from ..motion import features as F
from ..motion import skeleton as sk
from ..motion.quaternion import qinv, qmul, qrot
from ..motion.rotations import solve_rotations
from .blend import correct_window, key_from
from .errors import PROMPT_REFUSED, JobCancelled, ParamError
from ..prompts.reading import PromptReading, PromptRefused
from .motion_io import MIN_FRAMES, Motion, sample_arrays
from .path_follow import GroundPath
from .post import PostOptions, foot_cleanup, in_place, stop_glides

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]

MODEL_FPS: float = sk.FPS
LONGEST_DEFAULT_SECONDS: float = DEFAULT_MAX_TOKENS * FRAMES_PER_TOKEN / MODEL_FPS
"""Longest motion ``generate`` makes when no length is asked for (10 s):
the cap on the action's typical length, and what the server's result-size
estimate assumes."""
MIN_MODEL_SECONDS: float = 0.25
"""Shortest input motion the model can read: one 4-frame token at 20 fps."""
CONTEXT_TOKENS: int = CONTINUE_CONTEXT_TOKENS
"""Tokens of the input given to the model to continue from (8 s)."""
KEY_BLEND_S: float = 0.3
"""In-between: how long after / before a key the velocity matching acts."""
SEAM_BLEND_S: float = 0.5
"""Continue: how long the new frames take to blend from the input's last
pose and velocity into the generated motion."""


# ------------------------------------------------------------------------------
# progress and cancellation

class _Run:
    def __init__(self, progress: ProgressFn | None, cancelled: CancelFn | None):
        self.progress = progress
        self.cancelled = cancelled

    def check(self) -> None:
        if self.cancelled is not None and self.cancelled():
            raise JobCancelled()

    def step(self, fraction: float, message: str) -> None:
        self.check()
        if self.progress is not None:
            self.progress(float(min(1.0, max(0.0, fraction))), message)

    @contextlib.contextmanager
    def model_call(self) -> Iterator[None]:
        try:
            with cancel_check(self.cancelled):
                yield
        except GenerationCancelled as exc:
            raise JobCancelled() from exc
        self.check()


# ------------------------------------------------------------------------------
# tasks

def read_prompt(model, text: str | PromptReading | None, field: str = "text", path=None) -> PromptReading | None:
    """How the model reads ``text`` (None stays None; a reading passes
    through). A prompt with nothing to read is a ParamError on ``field``.
    With a ``path`` that turns one way, a run is read as the data's running
    turn (:func:`engine.pipeline.path_follow.reading_for_path`; a reading
    already made for the path passes through unchanged)."""
    if text is None or isinstance(text, PromptReading):
        reading = text
    elif not str(text).strip():
        return None
    else:
        try:
            reading = model.read_prompt(text)
        except PromptRefused as exc:
            raise ParamError(field, exc.message, code=PROMPT_REFUSED) from None
    if path is not None and path.seconds is not None and reading is not None:
        from .path_follow import reading_for_path
        reading = reading_for_path(reading, getattr(model, "prompt_vocabulary", None), path, path.seconds)
    return reading


@dataclass
class PathPlan:
    """How ``generate`` covers a path: what it makes, and for how long."""
    reading: PromptReading
    path: GroundPath            # its seconds: how long it takes (None: the action's own pace, cut where covered)
    seconds: float              # how long a motion is made for it
    paced: bool = False         # the seconds were chosen here, slower than the action's pace, for the path's turns


def plan_path(model, reading: PromptReading, path: GroundPath, seed: int | None) -> PathPlan:
    """What ``generate`` makes along ``path`` and for how long. With seconds,
    the path's. Without, the action's own pace (a probe motion at ``seed``
    measures it): the action is made :data:`PACE_MARGIN` longer and cut where
    it has covered the path. Where that pace would turn the body faster than
    :data:`TURN_PLAN_DEG_S`, a run becomes a running turn
    (:func:`~engine.pipeline.path_follow.reading_for_path`) and the path is
    given the seconds its turns need (:func:`seconds_for_turns`, when more
    than :data:`SLOWING_WORTH` times the action's own pace, at most
    :data:`SPEED_LIMIT` times it)."""
    from .path_follow import (PACE_MARGIN, SLOWING_WORTH, SPEED_LIMIT, for_body, pace_seconds, reading_for_path,
                              seconds_for_turns)
    vocabulary = getattr(model, "prompt_vocabulary", None)
    if path.seconds is not None:
        return PathPlan(reading_for_path(reading, vocabulary, path, path.seconds), path, path.seconds)

    def own_pace(r: PromptReading) -> float:
        probe = generate(model, r, None, seed, 1, MODEL_FPS, PostOptions(False, False))[0]
        return pace_seconds(probe, for_body(path, probe.offsets))

    own = own_pace(reading)
    turned = reading_for_path(reading, vocabulary, path, own)
    if turned is not reading:
        reading, own = turned, own_pace(turned)
    turns = seconds_for_turns(path)
    if turns > SLOWING_WORTH * own:
        seconds = min(60.0, turns, SPEED_LIMIT * own)
        return PathPlan(reading, GroundPath(path.points, seconds, path.leg_length), seconds, paced=True)
    return PathPlan(reading, path, min(60.0, PACE_MARGIN * own))


def generate(model, text: str | PromptReading, seconds: float | None = None, seed: int | None = None,
             variants: int = 1, fps: float = MODEL_FPS, options: PostOptions = PostOptions(),
             progress: ProgressFn | None = None, cancelled: CancelFn | None = None, path=None) -> list[Motion]:
    """``variants`` motions for a prompt at ``fps``. The prompt is read first
    (:func:`read_prompt`): the model is given the grounded caption. With
    ``seconds`` each motion has exactly ``round(seconds * fps)`` frames (the
    model is asked for enough 4-frame tokens to cover them, and the extra is
    trimmed); without, the typical length of the action read (its median
    training clip, at most 10 s), or the model picks when there is no
    reading. All variants are sampled in one batched model call; variant i
    (0-based) uses seed ``seed + i``, so any one of them can be made again
    alone. Starts at the origin facing +Z; with ``path``
    (:class:`engine.pipeline.path_follow.GroundPath`, or the :class:`PathPlan`
    a caller made for it to show its reading first) it is carried along the
    path, as long as the path's seconds or, without them, as long as the
    action takes to cover it at its own pace, slowed where its turns are
    tight (:func:`plan_path`)."""
    run = _Run(progress, cancelled)
    plan = path if isinstance(path, PathPlan) else None
    reading = plan.reading if plan is not None else read_prompt(model, text)
    if reading is None:
        raise ParamError("text", "is empty; describe the motion, e.g. \"a person walks forward\"")
    if path is not None:
        plan = plan or plan_path(model, reading, path, seed)
        reading, path, seconds = plan.reading, plan.path, plan.seconds
    cut = None
    fps = float(fps)
    variants = int(variants)
    if seconds is None and reading.seconds:
        seconds = min(float(reading.seconds), LONGEST_DEFAULT_SECONDS)
    num_frames = ask = None
    if seconds is not None:
        num_frames = max(MIN_FRAMES, int(round(float(seconds) * fps)))
        needed = _tokens_to_cover((num_frames - 1) / fps * MODEL_FPS)
        ask = float(seconds) if seconds_to_tokens(seconds) >= needed else needed * FRAMES_PER_TOKEN / MODEL_FPS
    run.step(0.0, f"generating {variants} variants" if variants > 1 else "generating")
    with run.model_call():
        features = model.text_to_motion(reading.model_text, seconds=ask, seed=None if seed is None else int(seed),
                                         variants=variants, sampling=model.sampling_for(reading, ask))
    motions: list[Motion] = []
    for i, feats in enumerate(features):
        run.step(0.7 + 0.3 * i / variants, "solving joint rotations" if variants == 1 else
                 f"solving joint rotations of variant {i + 1} of {variants}")
        motion = Motion.from_positions(F.features_to_joints(feats), MODEL_FPS).resample(fps, num_frames)
        if path is not None:
            from .path_follow import check_pace, follow, for_body, frames_to_cover
            body_path = for_body(path, motion.offsets)
            if path.seconds is None:          # made long enough, cut where it has covered the path (variant 0's)
                cut = cut or max(MIN_FRAMES, frames_to_cover(motion, body_path))
                motion = motion.slice(0, cut)
            if not plan.paced:
                check_pace(motion, body_path, reading.action)
            motion = follow(motion, body_path)
        motions.append(post_process(motion, options, (0, motion.num_frames)))
    run.step(1.0, "done")
    return motions


def inbetween(model, motion: Motion, from_frame: int, to_frame: int, text: str | PromptReading | None = None,
              seed: int | None = None, options: PostOptions = PostOptions(),
              progress: ProgressFn | None = None, cancelled: CancelFn | None = None) -> Motion:
    """Regenerate the frames strictly between ``from_frame`` and ``to_frame``
    (indices at the motion's own fps). Every frame <= from_frame and >=
    to_frame is returned bit-exactly, with the input's offsets and fps.

    How: the motion is resampled to 20 fps, encoded (joints_to_features
    re-poses it on the canonical body, floor at 0, first frame at the origin
    facing +Z), and the model regenerates the tokens covering the gap. The
    answer is decoded, mapped back into the input's world frame by inverting
    that canonicalisation (yaw and x, z of the first frame, the floor offset,
    and the root path scaled back by the canonical/input leg-length ratio),
    its rotations solved, and it is sampled at the input's gap frames. Its
    LOCAL joint rotations and its ROOT path are then corrected
    (:func:`engine.pipeline.blend.correct_window`): the offset to each key
    (root position difference, per-joint rotation delta) is spread across the
    gap with smoothstep weights, and a velocity term at each key makes the
    first generated step equal the input's step across the key. So frame
    ``from`` and ``to`` equal the keys and nothing jumps in pose or velocity
    there. ``options.in_place`` drops the generated horizontal travel (the
    root glides between the keys); ``options.foot_cleanup`` works on the gap
    only, easing to nothing at the keys."""
    run = _Run(progress, cancelled)
    reading = read_prompt(model, text)
    f0, f1 = int(from_frame), int(to_frame)
    n = motion.num_frames
    if not 0 <= f0 < f1 <= n - 1:
        raise ParamError("to_frame", f"the gap {f0}..{f1} must lie inside the motion's frames 0..{n - 1} "
                                     "with from_frame < to_frame")
    if f1 - f0 < 2:
        return motion.replace(motion.local_quats.copy(), motion.root_pos.copy())
    run.step(0.0, "preparing")
    joints = motion.resample(MODEL_FPS).positions()
    s0, s1 = f0 * MODEL_FPS / motion.fps, f1 * MODEL_FPS / motion.fps
    start = int(math.floor(s0)) + 1
    end = max(int(math.ceil(s1)), start + 1)
    # hold the last pose so whole tokens cover the gap and the frames after it
    needed = FRAMES_PER_TOKEN * _tokens_to_cover(max(end, math.ceil(s1)) + 1) + 1
    if len(joints) < needed:
        joints = np.concatenate([joints, np.repeat(joints[-1:], needed - len(joints), axis=0)])
    features = F.joints_to_features(joints)
    run.step(0.1, "generating the in-between")
    with run.model_call():
        out = model.inbetween(features, start, end, text=reading.model_text if reading else None, seed=seed,
                              sampling=model.sampling_for(reading))
    run.step(0.7, "solving joint rotations")
    gen_quats, gen_root = _to_world(F.features_to_joints(out), joints)
    idx = np.arange(f0, f1 + 1) * (MODEL_FPS / motion.fps)
    q, r = sample_arrays(gen_quats, gen_root, idx)
    if options.in_place:
        r[:, [0, 2]] = r[0, [0, 2]]
    blend = max(2, int(round(KEY_BLEND_S * motion.fps)))
    q, r = correct_window(q, r, key_from(motion.local_quats, motion.root_pos, f0, -1),
                          key_from(motion.local_quats, motion.root_pos, f1, +1), blend)
    quats, root = motion.local_quats.copy(), motion.root_pos.copy()
    quats[f0 + 1:f1], root[f0 + 1:f1] = q[1:-1], r[1:-1]
    result = motion.replace(quats, root)
    if options.foot_cleanup:
        run.step(0.9, "cleaning up foot contacts")
        result = foot_cleanup(result, (f0 + 1, f1))
    quats, root = result.local_quats.copy(), result.root_pos.copy()
    for part in (slice(0, f0 + 1), slice(f1, n)):  # outside the gap: the input, bit for bit
        quats[part], root[part] = motion.local_quats[part], motion.root_pos[part]
    run.step(1.0, "done")
    return motion.replace(quats, root)


def continue_motion(model, motion: Motion, seconds: float, text: str | PromptReading | None = None,
                    seed: int | None = None,
                    options: PostOptions = PostOptions(), progress: ProgressFn | None = None,
                    cancelled: CancelFn | None = None, path=None) -> Motion:
    """The input followed by ``round(seconds * fps)`` new frames at the
    input's fps (the input frames bit-exactly).

    How: the last (up to 8 s of the) motion is resampled to 20 fps so that
    its last frame is exactly the input's last frame, and the model continues
    it. The generated frames start on that last frame; they are turned about
    Y so the body faces the way the input's last frame faces and moved so the
    root starts on the input's last root (x, z); height and path are scaled
    back to the input's body (leg-length ratio), its feet standing on the
    floor the input's feet stood on (:func:`floor_height`). Then, over the first
    :data:`SEAM_BLEND_S` seconds, the difference to the input's last pose and
    velocity (root offset and per-joint rotation delta, plus a velocity term
    that makes the first new step equal the input's last step) fades out
    (:func:`engine.pipeline.blend.correct_window` without an end key), so the
    seam is continuous in pose and velocity.

    With ``path`` (:class:`engine.pipeline.path_follow.GroundPath`, in the
    input's world) the new frames are carried along it, moved to start where
    the input ends (the character already stands somewhere); a path that
    turns away from where the body faces is turned onto over the seam blend."""
    run = _Run(progress, cancelled)
    fps = motion.fps
    count = int(round(float(seconds) * fps))
    reading = read_prompt(model, text, path=None if path is None else GroundPath(path.points, count / fps))
    if count < 1:
        raise ParamError("seconds", f"{seconds!r} s adds no frame at {fps:g} fps; ask for at least {1 / fps:.3f} s")
    run.step(0.0, "preparing")
    n20 = int(math.floor(motion.duration * MODEL_FPS + 1e-6)) + 1
    rows = min((n20 - 1) // FRAMES_PER_TOKEN, CONTEXT_TOKENS) * FRAMES_PER_TOKEN
    if rows < FRAMES_PER_TOKEN:
        raise ParamError("motion", _too_short(motion))
    times = motion.duration - np.arange(rows, -1, -1) / MODEL_FPS   # ends exactly on the last frame
    cq, cr = motion.sample(times * fps)
    context = Motion(cq, cr, motion.offsets, MODEL_FPS).positions()
    new_tokens = _tokens_to_cover(count * MODEL_FPS / fps)
    run.step(0.1, "generating the continuation")
    with run.model_call():
        out = model.continue_motion(F.joints_to_features(context), new_tokens * FRAMES_PER_TOKEN / MODEL_FPS,
                                    text=reading.model_text if reading else None, seed=seed,
                                    sampling=model.sampling_for(reading, new_tokens * FRAMES_PER_TOKEN / MODEL_FPS))
    run.step(0.7, "solving joint rotations")
    gen = F.features_to_joints(out)
    scale, floor = _canonical_scale_floor(context)
    last = motion.positions()[-1]
    turn = qmul(qinv(F.facing_rotation(last[None])[0]), F.facing_rotation(gen[:1])[0])
    gen = qrot(np.broadcast_to(turn, gen.shape[:-1] + (4,)), gen - gen[0, 0] * np.array([1.0, 0.0, 1.0]))
    rot = solve_rotations(gen, MODEL_FPS)
    gen_root = gen[:, 0] / scale
    gen_root[:, 1] = (gen[:, 0, 1] + floor) / scale
    gen_root[:, [0, 2]] += motion.root_pos[-1, [0, 2]]
    q, r = sample_arrays(rot.local_quats, gen_root, np.arange(count + 1) * (MODEL_FPS / fps))
    if options.in_place:
        r[:, [0, 2]] = motion.root_pos[-1, [0, 2]]
    # the root height came back through the leg-length ratio, which ignores how high this body's
    # ankles sit: stand the new frames' feet on the floor the input's feet stood on
    r[:, 1] += floor_height(context) - floor_height(Motion(q, r, motion.offsets, fps).positions())
    if path is not None:
        from .path_follow import check_pace, follow, starting_at
        new_part = Motion(q, r, motion.offsets, fps)
        along = starting_at(GroundPath(path.points, count / fps, None), motion.root_pos[-1, [0, 2]])
        check_pace(new_part, along, reading.action if reading else None)
        new_part = follow(new_part, along)
        q, r = new_part.local_quats, new_part.root_pos
    blend = max(2, int(round(SEAM_BLEND_S * fps)))
    q, r = correct_window(q, r, key_from(motion.local_quats, motion.root_pos, motion.num_frames - 1, -1), None,
                          blend)
    result = motion.replace(np.concatenate([motion.local_quats, q[1:]]), np.concatenate([motion.root_pos, r[1:]]))
    n = motion.num_frames
    if options.foot_cleanup:
        run.step(0.9, "cleaning up foot contacts")
        if reading is None and path is None and not options.in_place:   # nothing asked for travel: a drift stops
            result = stop_glides(result, n)
        result = foot_cleanup(result, (n, result.num_frames))
        quats, root = result.local_quats.copy(), result.root_pos.copy()
        quats[:n], root[:n] = motion.local_quats, motion.root_pos
        result = motion.replace(quats, root)
    run.step(1.0, "done")
    return result


def caption(model, motion: Motion, progress: ProgressFn | None = None, cancelled: CancelFn | None = None) -> str:
    """A text description of the motion (its first 10 s)."""
    run = _Run(progress, cancelled)
    run.step(0.0, "preparing")
    joints = motion.resample(MODEL_FPS).positions()
    if len(joints) < FRAMES_PER_TOKEN + 1:
        raise ParamError("motion", _too_short(motion))
    features = F.joints_to_features(joints)
    run.step(0.2, "describing the motion")
    with run.model_call():
        text = model.caption(features)
    run.step(1.0, "done")
    return " ".join(str(text).split())


# ------------------------------------------------------------------------------
# helpers

def _tokens_to_cover(frame: float) -> int:
    """Fewest tokens whose decoded frames (4 per token) reach 20 fps frame
    index ``frame`` (fractional)."""
    return max(1, int(math.ceil((frame + 1.0) / FRAMES_PER_TOKEN - 1e-9)))


def _too_short(motion: Motion) -> str:
    return (f"is {motion.duration:.2f} s long ({motion.num_frames} frames at {motion.fps:g} fps); the model needs "
            f"at least {MIN_MODEL_SECONDS:g} s")


FLOOR_PERCENTILE = 40.0


def floor_height(positions: np.ndarray) -> float:
    """The floor a motion (T, 22, 3) stands on: the level of its lowest foot
    joint at the 40th percentile over frames -- a supporting foot's height,
    not a brief dip, and still the ground for a run whose feet are off it a
    third of the time (the add-on's retargeting uses the same rule)."""
    lowest = np.asarray(positions)[:, list(sk.FOOT_JOINTS), 1].min(axis=1)
    return float(np.percentile(lowest, FLOOR_PERCENTILE))


def _canonical_scale_floor(joints: np.ndarray) -> tuple[float, float]:
    """What :func:`features.canonicalize` does to a clip's root path: the
    leg-length scale onto the canonical body and the floor height (after
    scaling) it subtracts."""
    lengths = np.linalg.norm(joints[0] - joints[0, np.maximum(sk.PARENTS, 0)], axis=-1)
    scale = sk.leg_length() / sk.leg_length(sk.RAW_OFFSET_DIRECTIONS * lengths[:, None])
    floor = float(F.uniform_skeleton(joints)[..., 1].min())
    return float(scale), floor


def _to_world(canonical: np.ndarray, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations and root path (20 fps) of decoded ``canonical`` joints
    placed back where :func:`features.canonicalize` took ``joints`` from:
    the exact inverse of its floor shift, first-frame x, z and yaw, and
    leg-length scaling of the root path (the body itself is re-solved from
    rotations, so it keeps the input's proportions)."""
    scale, floor = _canonical_scale_floor(joints)
    face = F.facing_rotation(joints[:1])[0]   # uniform_skeleton keeps bone directions, so the facing too
    back = np.broadcast_to(qinv(face), canonical.shape[:-1] + (4,))
    world = qrot(back, canonical)
    rot = solve_rotations(world, MODEL_FPS)
    root = (world[:, 0] + np.array([0.0, floor, 0.0])) / scale
    root[:, [0, 2]] += joints[0, 0, [0, 2]]
    return rot.local_quats, root


def post_process(motion: Motion, options: PostOptions, frames: tuple[int, int]) -> Motion:
    """The options' post-processing on ``frames`` (what every task applies)."""
    if options.foot_cleanup:
        motion = foot_cleanup(motion, frames)
    if options.in_place:
        motion = in_place(motion, frames)
    return motion
