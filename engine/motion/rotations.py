"""Joint rotations from joint positions on the 22-joint skeleton.

The model speaks in joint positions (HumanML3D features), but a skinned
character in Blender is driven by bone rotations. This module turns (T, 22, 3)
positions into per-frame local quaternions plus a root translation such that
forward kinematics with the returned rest offsets gives the positions back.

Positions fix where every bone points but not how it is twisted about its own
axis, so each joint's twist is chosen by a rule (below) that looks right on a
skinned body: stable from frame to frame (no sudden flips), spread over the
spine instead of concentrated in one joint, and with elbows and knees turning
as hinges so the skin does not wrap like a candy wrapper.

Rest pose: identity rotations with the returned offsets are a T-pose, Y up,
facing +Z (the actor's left is +X), every bone along
:data:`skeleton.T_POSE_DIRECTIONS`, because retargeting tools and animators
expect a T-pose as the zero pose.

Twist rules (joint: primary axis = direction to its main child; twist reference):

- pelvis: pelvis -> spine1; the hip line (left hip - right hip).
- spine1, spine2, spine3: up the spine; an across-vector turned from the hip
  line toward the collar line by 1/3, 2/3 and all of the way (slerp), so the
  torso's twist against the hips is shared by the three spine joints.
- neck: neck -> head; spine3's across axis (the shoulder line, rigid with the
  chest, so a shrug does not twist the neck).
- collars: collar -> shoulder; minimal twist from spine3's frame.
- upper arms, thighs: to the elbow / knee; the normal of the plane through
  the three limb joints, so the elbow / knee is a pure hinge. Nearly straight
  frames (plane undefined) interpolate the twist of the bent frames around
  them in time, so nothing flips as a limb straightens (:func:`_limb_twist`).
- forearms, shins: minimal twist from the upper limb: the hinge itself.
- ankles: ankle -> toe; minimal twist from the shin's frame.
- head, wrists, feet (leaves): identity local rotation.

"Minimal twist" means the local rotation is the shortest arc from the rest
bone direction to the current one, measured in the parent's frame: it has no
twist component, and it is singular only when a bone points exactly opposite
to its rest direction relative to its parent, which a human body cannot do
for the collars, forearms, shins or ankles. The neck instead uses a frame
(head direction + shoulder line) because the head's rest direction in
:data:`skeleton.T_POSE_DIRECTIONS` is HumanML3D's +Z (forward), and a head
tipped back points nearly opposite to that.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import MotionShapeError
from . import skeleton as sk
from .kinematics import forward_kinematics
from .quaternion import matrix_to_quat, qbetween, qfix, quat_to_matrix

_EPS = 1e-9
_J = sk.NUM_JOINTS
_X = np.array([1.0, 0.0, 0.0])
_Y = np.array([0.0, 1.0, 0.0])
_Z = np.array([0.0, 0.0, 1.0])

_I = sk.JOINT_INDEX
PELVIS, SPINE1, SPINE2, SPINE3 = _I["pelvis"], _I["spine1"], _I["spine2"], _I["spine3"]
NECK, HEAD = _I["neck"], _I["head"]
L_HIP, R_HIP = _I["left_hip"], _I["right_hip"]
L_COLLAR, R_COLLAR = _I["left_collar"], _I["right_collar"]

MAIN_CHILD: dict[int, int] = {
    j: (sk.children_of(j)[0] if len(sk.children_of(j)) == 1 else -1) for j in range(_J)
}
"""The child whose direction is each joint's primary axis (-1 for leaves).
Pelvis and spine3 have three children; the spine is their main one, and the
other children (hips, collars) get offsets measured in the parent's frame."""
MAIN_CHILD[PELVIS] = SPINE1
MAIN_CHILD[SPINE3] = NECK

SPINE_COLLAR_WEIGHT: dict[int, float] = {PELVIS: 0.0, SPINE1: 1.0 / 3.0, SPINE2: 2.0 / 3.0, SPINE3: 1.0}
"""How much of the collar line (vs the hip line) sets each torso joint's
twist: the torso's yaw relative to the hips is shared evenly by the three
spine joints, as a real spine twists. Spine3 must use the collar line alone,
because the collars are rigid with it and get fixed offsets in its frame."""

LIMB_BEND_DIRECTION: dict[int, np.ndarray] = {
    _I["left_shoulder"]: _Z, _I["right_shoulder"]: _Z,   # elbows flex forward
    _I["left_hip"]: -_Z, _I["right_hip"]: -_Z,           # knees flex backward
}
"""Upper limb joint -> the rest-pose direction its lower limb moves to when
the elbow/knee flexes. With the rest bone direction it gives the rest hinge
axis (left arm: -Y, right arm: +Y, both knees: +X)."""

LIMB_BENT_DEG: float = 10.0
"""Bend angle (degrees) from which an arm's or leg's bend plane is trusted to
set the upper limb's twist. Straighter frames (where the plane is noise)
interpolate the twist of the bent frames around them."""

LIMB_TWIST_LIMIT_DEG: dict[int, float] = {_I["left_hip"]: 110.0, _I["right_hip"]: 110.0}
"""Largest believable thigh twist (degrees) away from the rest knee axis
carried by the pelvis. A bend plane beyond it means a hyperextended knee
(the plane normal flips), not a thigh turned backwards, so such frames do not
set the twist and the knee bends backwards as a hinge instead of the whole
leg flipping. Real mocap stays within about 50 degrees. Arms have no such
limit: raised overhead, an arm is legitimately twisted up to half a turn
against the T-pose swing."""

SWING_JOINTS: tuple[int, ...] = tuple(_I[n] for n in (
    "left_collar", "right_collar", "left_elbow", "right_elbow",
    "left_knee", "right_knee", "left_ankle", "right_ankle"))
"""Joints whose local rotation is the minimal-twist swing from the parent."""


@dataclass
class JointRotations:
    """Per-frame local joint rotations on the 22-joint skeleton.

    ``local_quats[t, j]`` (w, x, y, z) rotates joint j relative to its parent
    (the root's is its world rotation); ``offsets[j]`` is joint j's rest
    offset from its parent in the parent's frame. Identity rotations give the
    T-pose rest pose, so this is what a rig is retargeted from.
    """
    local_quats: np.ndarray
    root_pos: np.ndarray
    offsets: np.ndarray
    parents: np.ndarray = field(default_factory=lambda: np.asarray(sk.PARENTS).copy())
    joint_names: tuple[str, ...] = sk.JOINT_NAMES
    fps: float = sk.FPS

    @property
    def num_frames(self) -> int:
        return int(self.local_quats.shape[0])

    def positions(self) -> np.ndarray:
        """(T, 22, 3) world joint positions by forward kinematics."""
        positions, _ = forward_kinematics(self.local_quats, self.root_pos, self.offsets, self.parents)
        return positions

    def world_quats(self) -> np.ndarray:
        """(T, 22, 4) world rotation of every joint."""
        _, world = forward_kinematics(self.local_quats, self.root_pos, self.offsets, self.parents)
        return world

    def rest_positions(self) -> np.ndarray:
        """(22, 3) joint positions of the rest (T-)pose, root at the origin."""
        return sk.rest_joint_positions(self.offsets, self.parents)


# --------------------------------------------------------------------------
# small vector helpers (all vectorised over leading axes)

def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1, keepdims=True)


def _norm(v: np.ndarray) -> np.ndarray:
    return np.linalg.norm(v, axis=-1, keepdims=True)


def _unit(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Normalise v; where it is (nearly) zero use the fallback direction, so a
    collapsed bone or a degenerate reference never produces NaN."""
    n = _norm(v)
    fallback = np.broadcast_to(fallback, v.shape)
    fb = fallback / np.maximum(_norm(fallback), _EPS)
    return np.where(n > _EPS, v / np.maximum(n, _EPS), fb)


def _orthogonal(s: np.ndarray, d: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Unit component of s perpendicular to unit d; the fallback (also made
    perpendicular) where s is (nearly) parallel to d."""
    perp = s - _dot(s, d) * d
    fallback = np.broadcast_to(fallback, d.shape)
    fb_perp = fallback - _dot(fallback, d) * d
    # last resort: any vector perpendicular to d
    helper = np.where(np.abs(d[..., :1]) < 0.9, _X, _Y)
    any_perp = np.cross(d, helper)
    fb_perp = np.where(_norm(fb_perp) > 1e-6, fb_perp, any_perp)
    good = _norm(perp) > 1e-6 * np.maximum(_norm(s), _EPS)
    return _unit(np.where(good, perp, fb_perp), any_perp)


def _basis(d: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Orthonormal matrix with columns (d, s, d x s); s must be unit and
    perpendicular to unit d."""
    return np.stack([d, s, np.cross(d, s)], axis=-1)


def _frame_rotation(d: np.ndarray, s: np.ndarray, d0: np.ndarray, s0: np.ndarray,
                    fallback_s: np.ndarray) -> np.ndarray:
    """World rotation R (T, 3, 3) taking the rest axes (d0, s0) onto the
    measured primary axis d and twist reference s: R = [d, s, dxs][d0, s0, d0xs0]^T."""
    d0 = d0 / np.linalg.norm(d0)
    s0 = s0 - np.dot(s0, d0) * d0
    s0 = s0 / np.linalg.norm(s0)
    s = _orthogonal(s, d, fallback_s)
    return _basis(d, s) @ _basis(d0, s0).T


def _swing_matrix(d0: np.ndarray, d_local: np.ndarray) -> np.ndarray:
    """Shortest-arc rotation (T, 3, 3) from rest direction d0 to d_local."""
    return quat_to_matrix(qbetween(np.broadcast_to(d0, d_local.shape), d_local))


def _slerp_directions(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    """Unit vectors a fraction w of the way from unit a to unit b along the
    great circle, so a twist is split in proportion to the angle (a plain
    lerp would give the middle joints less than their share)."""
    cos = np.clip(_dot(a, b), -1.0, 1.0)
    omega = np.arccos(cos)
    sin = np.sin(omega)
    small = sin < 1e-6
    safe = np.where(small, 1.0, sin)
    wa = np.where(small, 1.0 - w, np.sin((1.0 - w) * omega) / safe)
    wb = np.where(small, w, np.sin(w * omega) / safe)
    return _unit(wa * a + wb * b, a)


def _apply(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """m (T, 3, 3) @ v (T, 3) or (3,)."""
    return np.einsum("...ij,...j->...i", m, np.broadcast_to(v, m.shape[:-1]))


def _apply_t(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """m^T @ v: a world vector expressed in the frame m."""
    return np.einsum("...ji,...j->...i", m, np.broadcast_to(v, m.shape[:-1]))


# --------------------------------------------------------------------------

def check_joint_positions(joints: np.ndarray, what: str = "joints") -> np.ndarray:
    """Validate (T, 22, 3) finite positions with T >= 1 and return float64."""
    arr = np.asarray(joints)
    if arr.ndim != 3 or arr.shape[1:] != (_J, 3):
        raise MotionShapeError(
            f"{what} must have shape (frames, {_J}, 3): joint positions in metres in the "
            f"22-joint SMPL order, got shape {arr.shape}")
    if arr.shape[0] < 1:
        raise MotionShapeError(f"{what} has no frames; need at least one (frames, {_J}, 3) pose")
    if not np.issubdtype(arr.dtype, np.number):
        raise MotionShapeError(f"{what} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        frames = np.unique(np.nonzero(bad)[0])
        raise MotionShapeError(
            f"{what} contains NaN or infinite values in {len(frames)} frame(s), first at frame "
            f"{int(frames[0])}; fill or drop those frames before solving rotations")
    return arr


def _bone_dirs(joints: np.ndarray) -> np.ndarray:
    """(T, 22, 3) unit direction parent -> joint (rest direction where a bone
    has zero length; the root's row is unused)."""
    parents = np.where(sk.PARENTS < 0, 0, sk.PARENTS)
    vec = joints - joints[:, parents]
    fallback = sk.T_POSE_DIRECTIONS.copy()
    fallback[sk.PARENTS < 0] = _Y
    return _unit(vec, fallback)


def _rest_offsets_from_lengths(joints: np.ndarray) -> np.ndarray:
    parents = np.where(sk.PARENTS < 0, 0, sk.PARENTS)
    lengths = np.median(np.linalg.norm(joints - joints[:, parents], axis=-1), axis=0)
    lengths[sk.PARENTS < 0] = 0.0
    return sk.T_POSE_DIRECTIONS * lengths[:, None]


def solve_rotations(joints: np.ndarray, fps: float = sk.FPS) -> JointRotations:
    """Local joint rotations and root translation that reproduce ``joints``.

    joints: (T, 22, 3) positions in metres, Y up, 22-joint SMPL order. Bone
    lengths are taken from the input (median over frames), so FK with the
    returned offsets reproduces the positions to numerical precision when the
    input body is rigid; pelvis and spine3 children other than the spine get
    offsets measured in the parent's frame (mean over frames).
    """
    joints = check_joint_positions(joints)
    if not np.isfinite(fps) or fps <= 0:
        raise MotionShapeError(f"fps must be a positive number, got {fps}")
    n = len(joints)
    parents = np.asarray(sk.PARENTS)
    offsets = _rest_offsets_from_lengths(joints)
    dirs = _bone_dirs(joints)           # dirs[:, c] = unit(parent(c) -> c)
    rest_dirs = sk.T_POSE_DIRECTIONS

    world = np.zeros((n, _J, 3, 3))
    local = np.zeros((n, _J, 3, 3))
    eye = np.broadcast_to(np.eye(3), (n, 3, 3))

    hip_line = _unit(joints[:, L_HIP] - joints[:, R_HIP], _X)
    collar_line = _unit(joints[:, L_COLLAR] - joints[:, R_COLLAR], _X)

    for j in range(_J):
        p = parents[j]
        parent_world = eye if p < 0 else world[:, p]
        c = MAIN_CHILD[j]
        if c < 0:                                   # leaf: nothing to aim, keep the parent's frame
            local[:, j] = eye
        elif j in SWING_JOINTS:                     # minimal twist relative to the parent
            local[:, j] = _swing_matrix(rest_dirs[c], _apply_t(parent_world, dirs[:, c]))
        else:
            if j in SPINE_COLLAR_WEIGHT:            # pelvis and spine: blended across-vector
                w = SPINE_COLLAR_WEIGHT[j]
                across = _slerp_directions(hip_line, collar_line, w)
                target = _frame_rotation(dirs[:, c], across, rest_dirs[c], _X, _apply(parent_world, _X))
            elif j == NECK:                         # twist from the shoulder line (spine3's X)
                target = _frame_rotation(dirs[:, c], _apply(parent_world, _X), rest_dirs[c], _X,
                                         _apply(parent_world, _Z))
            elif j in LIMB_BEND_DIRECTION:          # upper arm / thigh: bend plane
                target = _limb_rotation(j, c, dirs, parent_world)
            else:  # pragma: no cover - every joint has a rule
                raise AssertionError(f"no rotation rule for joint {sk.JOINT_NAMES[j]}")
            local[:, j] = np.swapaxes(parent_world, -1, -2) @ target
        world[:, j] = parent_world @ local[:, j]

    # children of multi-child joints: offsets measured in the parent's frame
    for j, c_main in ((PELVIS, SPINE1), (SPINE3, NECK)):
        for c in sk.children_of(j):
            if c != c_main:
                rel = joints[:, c] - joints[:, j]
                offsets[c] = _apply_t(world[:, j], rel).mean(axis=0)

    quats = qfix(matrix_to_quat(local), axis=0)
    return JointRotations(local_quats=quats, root_pos=joints[:, PELVIS].copy(), offsets=offsets,
                          parents=parents.copy(), joint_names=sk.JOINT_NAMES, fps=float(fps))


def _limb_twist(measured: np.ndarray, reliable: np.ndarray) -> np.ndarray:
    """Twist angle per frame (radians, continuous) of an upper arm or thigh.

    ``measured`` is each frame's bend-plane twist; ``reliable`` marks the
    frames bent enough for that plane to be well defined. Those frames keep
    their measured twist (so the elbow/knee is an exact hinge there); the
    nearly straight frames between them take the twist interpolated linearly
    in time along the shortest way, and before the first / after the last
    reliable frame the twist is held. A straight limb so keeps the twist it had
    while bent and turns smoothly from one bend's twist to the next, instead of
    snapping to a fixed reference (which would flip the limb when it
    straightens: an arm raised overhead is twisted half a turn against the
    T-pose's swing). With no reliable frame the carried rest axis (0) is used.
    """
    frames = np.flatnonzero(reliable)
    if len(frames) == 0:
        return np.zeros(len(measured))
    return np.interp(np.arange(len(measured), dtype=np.float64), frames.astype(np.float64),
                     np.unwrap(measured[frames]))


def _limb_rotation(j: int, c: int, dirs: np.ndarray, parent_world: np.ndarray) -> np.ndarray:
    """World rotation of an upper arm or thigh (joint j, main child c).

    The twist reference is the normal of the plane through the three limb
    joints, so the elbow/knee below turns as a pure hinge. Twist is measured
    as an angle about the bone relative to the rest hinge axis carried along
    the minimal-twist swing from the parent's frame. The bend plane is only
    defined when the limb is bent, so it is trusted from a bend of
    :data:`LIMB_BENT_DEG` on, and nearly straight frames borrow the twist of
    the bent frames around them (:func:`_limb_twist`): nothing flips as the
    limb straightens or bends. With no bent frame in the whole clip the
    carried rest hinge axis is used.
    """
    (gc,) = sk.children_of(c)
    d0 = sk.T_POSE_DIRECTIONS[c]
    n0 = np.cross(d0, LIMB_BEND_DIRECTION[j])
    n0 = n0 / np.linalg.norm(n0)
    upper = dirs[:, c]
    lower = dirs[:, gc]
    cross = np.cross(upper, lower)
    bend = np.degrees(np.arctan2(np.linalg.norm(cross, axis=-1), (upper * lower).sum(-1)))

    carried = parent_world @ _swing_matrix(d0, _apply_t(parent_world, upper))
    ref_n = _apply(carried, n0)                         # perpendicular to `upper`
    ref_b = np.cross(upper, ref_n)
    measured = _unit(cross, ref_n)
    measured_twist = np.arctan2((measured * ref_b).sum(-1), (measured * ref_n).sum(-1))
    reliable = bend >= LIMB_BENT_DEG
    limit = LIMB_TWIST_LIMIT_DEG.get(j)
    if limit is not None:
        reliable &= np.abs(measured_twist) <= np.radians(limit)
    twist = _limb_twist(measured_twist, reliable)
    s = np.cos(twist)[:, None] * ref_n + np.sin(twist)[:, None] * ref_b
    return _frame_rotation(upper, s, d0, n0, ref_n)


def rotations_to_joints(rotations: JointRotations) -> np.ndarray:
    """(T, 22, 3) positions by forward kinematics (thin wrapper, so callers
    need not know the FK signature)."""
    return rotations.positions()


def reconstruction_error_mm(joints: np.ndarray, rotations: JointRotations) -> tuple[float, float]:
    """(mean, max) distance in millimetres between ``joints`` and the FK of
    ``rotations``, over all frames and joints: how faithfully the rotations
    reproduce the positions they were solved from."""
    joints = check_joint_positions(joints)
    pos = rotations.positions()
    if pos.shape != joints.shape:
        raise MotionShapeError(f"joints have shape {joints.shape} but the rotations give {pos.shape}")
    err = np.linalg.norm(pos - joints, axis=-1) * 1000.0
    return float(err.mean()), float(err.max())
