"""Motion metrics on joint positions: prediction / in-betweening errors,
their classical baselines, and physical plausibility.

Every function takes (T, 22, 3) joint positions in metres, Y up, floor at
y = 0 (what :func:`engine.motion.features.features_to_joints` returns) at
:data:`engine.motion.skeleton.FPS` = 20 frames per second; most also accept
extra leading batch axes (..., T, 22, 3). All are vectorised over frames.

Frame rate of the in-betweening benchmark
-----------------------------------------
Harvey et al. (LaFAN1) use transitions of 5, 15 and 30 frames at 30 fps,
i.e. 1/6 s, 0.5 s and 1 s. We work at 20 fps and keep the durations, so our
gaps are **3, 10 and 20 frames at 20 fps** (:data:`INBETWEEN_GAPS`; 5 frames
at 30 fps is 3.3 frames, rounded down to 3). Numbers are therefore per the
same time spans as the paper, not the same frame counts.
"""
from __future__ import annotations

import numpy as np

from ..errors import MotionShapeError
from ..motion import skeleton as sk
from ..motion.kinematics import forward_kinematics
from ..motion.quaternion import slerp

INBETWEEN_GAPS: dict[int, int] = {5: 3, 15: 10, 30: 20}
"""LaFAN1 transition length at 30 fps -> the gap we use, in frames at 20 fps."""

CONTACT_HEIGHT_M: dict[int, float] = {
    sk.JOINT_INDEX["left_ankle"]: 0.11, sk.JOINT_INDEX["right_ankle"]: 0.11,
    sk.JOINT_INDEX["left_foot"]: 0.05, sk.JOINT_INDEX["right_foot"]: 0.05,
}
"""Height below which a foot joint may be in contact. On the canonical body
standing on the floor the ankle is about 0.08 m up and the ball of the foot
about 0.0-0.01 m, so these leave 2-4 cm of margin."""

CONTACT_SPEED_MS: float = float(np.sqrt(0.002)) * sk.FPS
"""Speed (m/s) under which a low foot counts as planted: HumanML3D's foot
contact threshold (squared step 0.002 m^2 per frame at 20 fps, 0.89 m/s).
Faster low feet are swinging, not sliding, and are not counted."""


def _joints(x: np.ndarray, what: str, min_frames: int = 1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 3 or x.shape[-2:] != (sk.NUM_JOINTS, 3):
        raise MotionShapeError(f"{what} must have shape (..., frames, {sk.NUM_JOINTS}, 3), got {x.shape}")
    if x.shape[-3] < min_frames:
        raise MotionShapeError(f"{what} needs at least {min_frames} frames, got {x.shape[-3]}")
    if not np.all(np.isfinite(x)):
        raise MotionShapeError(f"{what} contains NaN or infinite values")
    return x


def _pair(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = _joints(pred, "pred")
    target = _joints(target, "target")
    if pred.shape != target.shape:
        raise MotionShapeError(f"pred {pred.shape} and target {target.shape} must have the same shape")
    return pred, target


# --------------------------------------------------------------------------
# errors against ground truth

def ade(pred: np.ndarray, target: np.ndarray) -> float:
    """Average displacement error (m): mean over frames, joints (and any
    batch axes) of the Euclidean joint position error. Pass only the
    generated frames."""
    pred, target = _pair(pred, target)
    return float(np.linalg.norm(pred - target, axis=-1).mean())


def fde(pred: np.ndarray, target: np.ndarray) -> float:
    """Final displacement error (m): mean over joints (and batch axes) of the
    position error at the last generated frame."""
    pred, target = _pair(pred, target)
    return float(np.linalg.norm(pred[..., -1, :, :] - target[..., -1, :, :], axis=-1).mean())


def pose_std(joint_arrays: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """(22, 3) standard deviation of global joint positions over a reference
    set (training data), each clip first moved so its first frame's root is
    at x = z = 0 (the LaFAN1 benchmark centres on the last context frame;
    for statistics the first frame of a clip plays that role)."""
    arrays = [joint_arrays] if isinstance(joint_arrays, np.ndarray) and joint_arrays.ndim == 3 else joint_arrays
    centred = []
    for j in arrays:
        j = _joints(j, "joints")
        centred.append(j - j[:1, :1] * np.array([1.0, 0.0, 1.0]))
    std = np.concatenate(centred).std(axis=0)
    return np.maximum(std, 1e-6)


def l2p(pred: np.ndarray, target: np.ndarray, std: np.ndarray | None = None) -> float:
    """L2P of Harvey et al. 2020: per frame, the L2 norm of the difference of
    the two whole-body global position vectors (22 x 3 = 66 numbers), each
    coordinate divided by its standard deviation over the training data
    (:func:`pose_std`), averaged over the generated frames (and batch axes).
    The mean subtracted by their normalisation cancels in the difference.
    With ``std=None`` no normalisation is applied and the result is in
    metres (the norm over all joints of a frame, not a per-joint mean: use
    :func:`ade` for that)."""
    pred, target = _pair(pred, target)
    diff = pred - target
    if std is not None:
        std = np.asarray(std, dtype=np.float64)
        if std.shape != (sk.NUM_JOINTS, 3):
            raise MotionShapeError(f"std must have shape ({sk.NUM_JOINTS}, 3), got {std.shape}")
        diff = diff / std
    return float(np.sqrt((diff ** 2).sum(axis=(-1, -2))).mean())


# --------------------------------------------------------------------------
# prediction baselines

def constant_pose(context: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat the last observed pose: (..., horizon, 22, 3)."""
    context = _joints(context, "context")
    last = context[..., -1:, :, :]
    return np.repeat(last, horizon, axis=-3)


def constant_velocity(context: np.ndarray, horizon: int) -> np.ndarray:
    """Extrapolate every joint with its last observed per-frame velocity:
    frame k after the context is last + k * (last - previous)."""
    context = _joints(context, "context", min_frames=2)
    last = context[..., -1:, :, :]
    vel = last - context[..., -2:-1, :, :]
    k = np.arange(1, horizon + 1, dtype=np.float64)[:, None, None]
    return last + k * vel


# --------------------------------------------------------------------------
# in-betweening baselines

def _alphas(gap: int) -> np.ndarray:
    if gap < 1:
        raise MotionShapeError(f"gap must be at least 1 frame, got {gap}")
    return np.arange(1, gap + 1, dtype=np.float64) / (gap + 1)


def inbetween_linear(before: np.ndarray, after: np.ndarray, gap: int) -> np.ndarray:
    """Positions-only interpolation baseline: the ``gap`` missing frames
    between the known poses ``before`` (22, 3) and ``after`` (22, 3). The
    root moves linearly; every other joint's offset from the root is
    interpolated linearly (so a limb shortens a little mid-swing, which is
    the price of not having rotations). Returns (gap, 22, 3)."""
    before = _joints(np.asarray(before)[None], "before")[0]
    after = _joints(np.asarray(after)[None], "after")[0]
    a = _alphas(gap)[:, None, None]
    root = (1 - a) * before[None, :1] + a * after[None, :1]
    rel = (1 - a) * (before - before[:1])[None] + a * (after - after[:1])[None]
    rel[:, 0] = 0.0
    return root + rel


def inbetween_slerp(quats_before: np.ndarray, quats_after: np.ndarray, root_before: np.ndarray,
                    root_after: np.ndarray, gap: int, offsets: np.ndarray,
                    parents: np.ndarray = sk.PARENTS) -> np.ndarray:
    """Rotation interpolation baseline of Harvey et al.: SLERP of every local
    joint quaternion (22, 4) and linear root position (3,), then forward
    kinematics with the rest ``offsets`` (22, 3). Returns (gap, 22, 3)."""
    a = _alphas(gap)
    q = slerp(np.asarray(quats_before)[None], np.asarray(quats_after)[None], a[:, None])
    root = (1 - a)[:, None] * np.asarray(root_before, dtype=np.float64) + a[:, None] * np.asarray(root_after,
                                                                                                   dtype=np.float64)
    positions, _ = forward_kinematics(q, root, offsets, parents)
    return positions


def inbetween_slerp_joints(before: np.ndarray, after: np.ndarray, gap: int) -> np.ndarray:
    """:func:`inbetween_slerp` for positions-only data: local rotations of the
    two key poses come from :func:`engine.motion.rotations.solve_rotations`
    (solved on the two frames together, so both share one set of rest
    offsets), then SLERP + root lerp + FK. Returns (gap, 22, 3)."""
    from ..motion.rotations import solve_rotations
    before = _joints(np.asarray(before)[None], "before")[0]
    after = _joints(np.asarray(after)[None], "after")[0]
    rot = solve_rotations(np.stack([before, after]))
    return inbetween_slerp(rot.local_quats[0], rot.local_quats[1], rot.root_pos[0], rot.root_pos[1],
                           gap, rot.offsets, rot.parents)


def inbetween_gap_slices(num_frames: int, gap: int, context: int = 10) -> tuple[slice, slice, slice]:
    """(context, gap, target) frame slices of one in-betweening window at the
    start of a clip: ``context`` known frames, ``gap`` missing frames, then
    the first known frame after the gap (the target keyframe)."""
    if num_frames < context + gap + 1:
        raise MotionShapeError(f"a clip of {num_frames} frames is too short for {context} context + {gap} gap + 1 frames")
    return slice(0, context), slice(context, context + gap), slice(context + gap, context + gap + 1)


# --------------------------------------------------------------------------
# physical plausibility

def _foot_contact(joints: np.ndarray, fps: float, height_m: dict[int, float] | None,
                  speed_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """(contact mask, horizontal speed m/s), both (..., T-1, 4) for the foot
    joints between consecutive frames."""
    feet = list(sk.FOOT_JOINTS)
    heights = np.array([(height_m or CONTACT_HEIGHT_M)[j] for j in feet])
    pos = joints[..., feet, :]
    step = np.diff(pos, axis=-3)
    speed = np.linalg.norm(step, axis=-1) * fps
    h_speed = np.linalg.norm(step[..., [0, 2]], axis=-1) * fps
    low = np.maximum(pos[..., 1:, :, 1], pos[..., :-1, :, 1]) < heights
    return low & (speed < speed_ms), h_speed


def foot_skating(joints: np.ndarray, fps: float = sk.FPS, height_m: dict[int, float] | None = None,
                 speed_ms: float = CONTACT_SPEED_MS) -> dict[str, float]:
    """Foot sliding while in contact.

    A foot joint (ankles and balls of the feet, :data:`skeleton.FOOT_JOINTS`)
    is in contact between frames t and t+1 when it is below its height
    threshold (:data:`CONTACT_HEIGHT_M`) in both frames and moves slower than
    ``speed_ms``. Returns ``skate_speed``: the mean horizontal (x-z) speed
    in m/s over all contact steps of all foot joints (0 if there are none),
    and ``contact_fraction``: the share of foot-joint steps in contact.
    """
    joints = _joints(joints, "joints", min_frames=2)
    contact, h_speed = _foot_contact(joints, fps, height_m, speed_ms)
    n = contact.sum()
    return {"skate_speed": float((h_speed * contact).sum() / n) if n else 0.0,
            "contact_fraction": float(contact.mean())}


def ground_penetration(joints: np.ndarray, tolerance_m: float = 0.0) -> dict[str, float]:
    """How far the feet go below the floor (y = 0). Per frame the lowest
    foot joint is found; ``depth`` is the mean over all frames of how far it
    is below the floor (0 for frames above it), in metres; ``fraction`` is
    the share of frames where it is more than ``tolerance_m`` below."""
    joints = _joints(joints, "joints")
    lowest = joints[..., list(sk.FOOT_JOINTS), 1].min(axis=-1)
    return {"depth": float(np.maximum(-lowest, 0.0).mean()),
            "fraction": float((lowest < -tolerance_m).mean())}


def jerk(joints: np.ndarray, fps: float = sk.FPS) -> float:
    """Mean magnitude of the third time derivative of joint positions in
    m/s^3 (third finite difference times fps^3), over joints and frames.
    Zero for any motion with constant velocity or constant acceleration."""
    joints = _joints(joints, "joints", min_frames=4)
    d3 = np.diff(joints, n=3, axis=-3) * fps ** 3
    return float(np.linalg.norm(d3, axis=-1).mean())


def plausibility(joints: np.ndarray, fps: float = sk.FPS) -> dict[str, float]:
    """Foot skating, ground penetration and jerk of one motion, flat keys."""
    skate = foot_skating(joints, fps)
    pen = ground_penetration(joints)
    return {"foot_skate_ms": skate["skate_speed"], "foot_contact_fraction": skate["contact_fraction"],
            "penetration_depth_m": pen["depth"], "penetration_fraction": pen["fraction"],
            "jerk_ms3": jerk(joints, fps) if np.shape(joints)[-3] >= 4 else 0.0}


# --------------------------------------------------------------------------
# gait: does a motion walk?

STEP_HYSTERESIS_M: float = 0.05
"""How far one ankle must get ahead of the other (along the body's facing)
before the lead counts as switched, so stance jitter is not a step."""


def body_forward(joints: np.ndarray) -> np.ndarray:
    """(..., T, 2) unit horizontal (x, z) facing per frame: perpendicular to
    the hip and shoulder lines, as HumanML3D's features define it."""
    joints = _joints(joints, "joints")
    across = (joints[..., sk.JOINT_INDEX["right_hip"], :] - joints[..., sk.JOINT_INDEX["left_hip"], :]
              + joints[..., sk.JOINT_INDEX["right_shoulder"], :] - joints[..., sk.JOINT_INDEX["left_shoulder"], :])
    fwd = np.stack([across[..., 2], -across[..., 0]], axis=-1)      # cross(up, across) in the x-z plane
    return fwd / np.maximum(np.linalg.norm(fwd, axis=-1, keepdims=True), 1e-9)


def gait(joints: np.ndarray, fps: float = sk.FPS) -> dict[str, float]:
    """Whether a (T, 22, 3) motion walks: ``travel_m`` (straight-line root
    distance, start to end, horizontal), ``path_m`` (length of the root's
    horizontal path), ``speed_ms`` (path / duration), ``steps`` (times the
    leading foot changes: the left-minus-right ankle offset along the body's
    facing crosses from beyond +:data:`STEP_HYSTERESIS_M` to beyond -it or
    back) and ``step_rate_hz``. A walk travels and has steps >= 2 per
    couple of seconds; a motion on the spot has ~0 of both."""
    joints = _joints(joints, "joints", min_frames=2)
    if joints.ndim != 3:
        raise MotionShapeError(f"gait takes one motion (frames, {sk.NUM_JOINTS}, 3), got {joints.shape}")
    root = joints[:, 0, [0, 2]]
    path = float(np.linalg.norm(np.diff(root, axis=0), axis=-1).sum())
    seconds = (len(joints) - 1) / fps
    lead = ((joints[:, sk.JOINT_INDEX["left_ankle"], :] - joints[:, sk.JOINT_INDEX["right_ankle"], :])[:, [0, 2]]
            * body_forward(joints)).sum(-1)
    state = np.where(lead > STEP_HYSTERESIS_M, 1, np.where(lead < -STEP_HYSTERESIS_M, -1, 0))
    decided = state[state != 0]
    steps = int(np.count_nonzero(np.diff(decided))) if len(decided) else 0
    return {"travel_m": float(np.linalg.norm(root[-1] - root[0])), "path_m": path,
            "speed_ms": path / seconds if seconds > 0 else 0.0, "steps": steps,
            "step_rate_hz": steps / seconds if seconds > 0 else 0.0}


# --------------------------------------------------------------------------
# frozen frames: does a long motion keep moving?

FROZEN_SPEED_MS: float = 0.15
"""A frame is frozen when the fastest joint, relative to the hips and the
body's facing, moves slower than this (m/s), averaged over
:data:`FROZEN_WINDOW_S`. A held pose (or a pose gliding over the floor)
stays under it; waving, walking and running keep some joint far above it
(a waving hand moves at 1-2 m/s, a swinging foot faster)."""
FROZEN_WINDOW_S: float = 0.5


def body_frame_joints(joints: np.ndarray) -> np.ndarray:
    """(T, 22, 3) joints relative to the hips (horizontally) and turned so the
    body faces +Z in every frame: the pose without where the body is or which
    way it faces, so sliding or turning on the spot is not movement."""
    joints = _joints(joints, "joints")
    rel = joints - joints[:, :1] * np.array([1.0, 0.0, 1.0])
    fwd = body_forward(joints)                                   # (T, 2) as (x, z)
    cos, sin = fwd[:, 1], fwd[:, 0]                              # angle from +Z towards +X
    x, z = rel[..., 0], rel[..., 2]
    out = rel.copy()
    out[..., 0] = cos[:, None] * x - sin[:, None] * z
    out[..., 2] = sin[:, None] * x + cos[:, None] * z
    return out


def frozen_frames(joints: np.ndarray, fps: float = sk.FPS, speed_ms: float = FROZEN_SPEED_MS,
                  window_s: float = FROZEN_WINDOW_S) -> np.ndarray:
    """Bool (T,): which frames of a (T, 22, 3) motion hold their pose (see
    :data:`FROZEN_SPEED_MS`)."""
    pose = body_frame_joints(joints)
    if len(pose) < 2:
        return np.ones(len(pose), dtype=bool)
    speed = np.linalg.norm(np.diff(pose, axis=0), axis=-1).max(axis=-1) * fps      # (T-1,)
    speed = np.concatenate([speed[:1], speed])
    width = max(1, int(round(window_s * fps)))
    kernel = np.ones(width) / width
    padded = np.pad(speed, (width // 2, width - 1 - width // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid") < speed_ms


def frozen_share(joints: np.ndarray, fps: float = sk.FPS, speed_ms: float = FROZEN_SPEED_MS,
                 window_s: float = FROZEN_WINDOW_S) -> float:
    """Share of frames (0..1) of a motion that hold their pose."""
    return float(frozen_frames(joints, fps, speed_ms, window_s).mean())
