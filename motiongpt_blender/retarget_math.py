"""Retargeting math of the MotionGPT add-on: pure numpy (no bpy, no mathutils).

Everything here is vectorised over frames (loops run over bones or joints,
never over frames), so it can be unit-tested without Blender and is fast
inside it. ``retarget.py`` and ``rig_reader.py`` are the thin bpy glue that
reads a rig into :class:`RigRest`, calls :func:`retarget` /
:func:`fill_missing_joints` and writes or returns the result.

Conventions
-----------
- Quaternions are (w, x, y, z); matrices act on column vectors (``R @ v``).
- The engine works in metres, Y up, the body facing +Z (the actor's left is
  +X). Blender is Z up and characters face -Y. ``Y_UP_TO_Z_UP`` maps engine
  (x, y, z) to Blender (x, -z, y): what Blender's BVH importer does with
  axis_forward=-Z, axis_up=Y. The engine's +Z (forward) becomes Blender -Y.
- A rig is described in *armature space* exactly as Blender stores it: for
  each bone ``bone.matrix_local`` (rest, 4x4), the pose bone's
  ``matrix_basis`` and the armature object's ``matrix_world``. A pose bone's
  armature-space matrix is, as Blender computes it without constraints,
  ``pose[b] = pose[parent] @ inv(rest[parent]) @ rest[b] @ basis[b]``.

Alignment (what :func:`retarget` does)
--------------------------------------
Both skeletons are compared in WORLD space, so rest poses (T- vs A-pose),
bone rolls, bone axes, armature object rotation and scale do not matter.
For each engine joint j mapped to rig bone b:

1. ``u`` is the rig's rest direction of the bone: from b's head to the head
   of the bone mapped to j's nearest mapped descendant along the engine's
   main chain (e.g. thigh -> shin; hips -> first mapped spine bone), or b's
   own Y axis (head -> tail) when j has no mapped descendant. ``v`` is the
   same bone's direction in the engine's rest (T-)pose.
2. ``A_j`` = the shortest-arc rotation taking ``u`` onto ``v`` (constant).
   For the hips and the chest (joints with a left-right pair of mapped
   children), ``A_j`` also turns the rig's rest hip line (collar or shoulder
   line) onto the engine's, so a rig posed turned about its spine is fixed.
3. Per frame: ``Q(t) = W_j(t) @ A_j`` where ``W_j`` is the engine joint's
   world rotation (converted to Z up, and turned to the way the rig faces);
   then, for chain bones, a swing correction ``S(t)`` turns ``Q(t) u``
   exactly onto the engine's current direction toward that same descendant
   (the identity when the descendant is j's direct child; it folds the
   rotation of skipped engine joints, e.g. a missing second spine bone, into
   the mapped bone). Hips and chest keep ``Q(t)`` (their whole frame).
4. The rig bone's world rotation is ``S(t) Q(t) R_rest`` (R_rest: its rest
   world rotation), so its twist follows the engine joint and its direction
   matches the engine bone exactly.
5. ``matrix_basis`` is solved through the rig's real parent chain, bones in
   hierarchy order: ``basis = inv(pose[parent] @ inv(rest[parent]) @ rest[b]) @ desired``.
   Leaves (head, hands) align their own Y axis with the engine's
   parent->joint direction and take the engine joint's rotation. Toes (the
   engine's ball-of-foot joints, which have no rotation of their own) keep
   their rest pose relative to the foot bone, so they lie flat when the
   foot does.
6. Root motion (hips bone only): the engine's hip centre (between the hip
   joints) scaled by the leg ratio (rig hip-knee-ankle length / engine's)
   drives the rig's hip centre (between its thigh heads), "relative" (starts
   where the rig stands, height above the rig's feet) or "absolute"
   (armature origin + scaled engine position); the hips bone follows with
   its rest offset from that centre. A hips bone's head sits at a different
   height on every rig (6 cm below the thighs on Blender's metarig), so
   placing the legs, not that head, keeps the feet on the floor.

Constraints are not modelled here; ``retarget.py`` refines such rigs by
evaluating them in Blender.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

# ---------------------------------------------------------------------------
# The engine's 22-joint skeleton (a copy: the add-on cannot import the engine)

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee",
    "spine2", "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot",
    "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
JOINT_INDEX: dict[str, int] = {n: i for i, n in enumerate(JOINT_NAMES)}
PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)

T_POSE_OFFSETS_M: np.ndarray = np.array([
    [0, 0, 0], [0.108, 0, 0], [-0.108, 0, 0], [0, 0.115, 0], [0, -0.392, 0], [0, -0.392, 0],
    [0, 0.140, 0], [0, -0.418, 0], [0, -0.418, 0], [0, 0.058, 0], [0, 0, 0.139], [0, 0, 0.139],
    [0, 0.225, 0], [0.151, 0, 0], [-0.151, 0, 0], [0, 0.085, 0], [0.133, 0, 0], [-0.133, 0, 0],
    [0.260, 0, 0], [-0.260, 0, 0], [0.268, 0, 0], [-0.268, 0, 0],
], dtype=np.float64)
"""The engine's canonical T-pose rest offsets (metres, Y up): used only to
fill joints a rig lacks when reading it back (chain fractions)."""
T_POSE_OFFSETS_M.setflags(write=False)

Y_UP_TO_Z_UP: np.ndarray = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
"""Engine (x, y, z) Y up -> Blender (x, -z, y) Z up, as a rotation matrix."""
Y_UP_TO_Z_UP.setflags(write=False)

ROOT_MOTION_MODES: tuple[str, ...] = ("relative", "absolute", "none")

RIGID_LEAVES: tuple[str, ...] = ("left_foot", "right_foot")
"""Engine joints that end the skeleton without a rotation worth following:
the balls of the feet. Their bones (toes) keep their rest pose relative to
the foot bone."""

TWIST_PAIRS: dict[str, tuple[tuple[str, str], ...]] = {
    "pelvis": (("left_hip", "right_hip"),),
    "spine3": (("left_collar", "right_collar"), ("left_shoulder", "right_shoulder")),
}
"""Joints whose alignment also matches a left-right line (the hips, the
shoulders), so a rig whose rest hips or chest are turned about the spine is
turned back, instead of only the spine's direction being matched."""

_EPS = 1e-9


class RetargetError(ValueError):
    """Input the retargeting cannot work with (bad motion data, a mapping
    that names bones the rig lacks, ...). The message says what to fix."""


# ---------------------------------------------------------------------------
# quaternion / matrix helpers (vectorised over leading axes)

def normalize(v: np.ndarray, axis: int = -1) -> np.ndarray:
    n = np.linalg.norm(v, axis=axis, keepdims=True)
    return v / np.maximum(n, _EPS)


def quat_normalize(q: np.ndarray) -> np.ndarray:
    return normalize(np.asarray(q, dtype=np.float64))


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b (apply b first, then a)."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, dtype=np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, dtype=np.float64), -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) unit (w, x, y, z) -> (..., 3, 3) rotation matrices."""
    q = quat_normalize(q)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (w, x, y, z).

    Numerically robust for every rotation (Shepperd's method: the largest of
    w, x, y, z is computed from the diagonal, the others from it)."""
    m = np.asarray(m, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    trace = m00 + m11 + m22
    cand = np.stack([trace, m00, m11, m22], -1)
    pick = np.argmax(cand, axis=-1)
    q = np.empty(m.shape[:-2] + (4,))
    # w largest
    s = np.sqrt(np.maximum(1.0 + trace, _EPS)) * 2.0
    qw = np.stack([0.25 * s, (m[..., 2, 1] - m[..., 1, 2]) / s,
                   (m[..., 0, 2] - m[..., 2, 0]) / s, (m[..., 1, 0] - m[..., 0, 1]) / s], -1)
    s = np.sqrt(np.maximum(1.0 + m00 - m11 - m22, _EPS)) * 2.0
    qx = np.stack([(m[..., 2, 1] - m[..., 1, 2]) / s, 0.25 * s,
                   (m[..., 0, 1] + m[..., 1, 0]) / s, (m[..., 0, 2] + m[..., 2, 0]) / s], -1)
    s = np.sqrt(np.maximum(1.0 - m00 + m11 - m22, _EPS)) * 2.0
    qy = np.stack([(m[..., 0, 2] - m[..., 2, 0]) / s, (m[..., 0, 1] + m[..., 1, 0]) / s,
                   0.25 * s, (m[..., 1, 2] + m[..., 2, 1]) / s], -1)
    s = np.sqrt(np.maximum(1.0 - m00 - m11 + m22, _EPS)) * 2.0
    qz = np.stack([(m[..., 1, 0] - m[..., 0, 1]) / s, (m[..., 0, 2] + m[..., 2, 0]) / s,
                   (m[..., 1, 2] + m[..., 2, 1]) / s, 0.25 * s], -1)
    for k, cand_q in enumerate((qw, qx, qy, qz)):
        sel = pick == k
        q[sel] = cand_q[sel]
    q = quat_normalize(q)
    return np.where(q[..., :1] < 0, -q, q)


def quat_continuity(q: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Flip signs along axis 0 (time) so consecutive quaternions lie in the
    same hemisphere (q and -q are the same rotation, but linear F-curve
    interpolation between opposite signs swings through a wrong pose).

    ``reference`` (..., 4): the value just before the first frame (e.g. an
    existing key), which the first frame is made to agree with; without it
    the first frame keeps w >= 0."""
    q = np.array(q, dtype=np.float64)
    if len(q) == 0:
        return q
    first = q[0]
    if reference is not None:
        flip0 = (np.asarray(reference, dtype=np.float64) * first).sum(-1) < 0
    else:
        flip0 = first[..., 0] < 0
    dots = (q[1:] * q[:-1]).sum(-1)
    steps = np.concatenate([np.where(flip0, -1.0, 1.0)[None], np.where(dots < 0, -1.0, 1.0)], axis=0)
    return q * np.cumprod(steps, axis=0)[..., None]


def quat_from_axis_angle(axis: np.ndarray, angle) -> np.ndarray:
    """Unit quaternions (..., 4) turning by ``angle`` (radians) about unit ``axis`` (..., 3)."""
    half = np.asarray(angle, dtype=np.float64) / 2.0
    return np.concatenate([np.cos(half)[..., None], axis * np.sin(half)[..., None]], -1)


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    """The inverse of unit quaternions (..., 4)."""
    return np.asarray(q, dtype=np.float64) * np.array([1.0, -1.0, -1.0, -1.0])


def quat_power(q: np.ndarray, w) -> np.ndarray:
    """``q ** w`` for unit quaternions: the same axis, the angle times ``w``
    (taken the short way round)."""
    q = quat_normalize(q)
    q = np.where(q[..., :1] < 0, -q, q)
    half = np.arccos(np.clip(q[..., 0], -1.0, 1.0))
    w = np.asarray(w, dtype=np.float64)
    return quat_from_axis_angle(normalize(q[..., 1:]), 2.0 * w * half)


def smoothstep(s: np.ndarray) -> np.ndarray:
    s = np.clip(np.asarray(s, dtype=np.float64), 0.0, 1.0)
    return s * s * (3.0 - 2.0 * s)


def hold_weights(n: int, hold_start: bool, hold_end: bool, fade: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(w_start, w_end), each (n,): how much of the correction toward a held
    first / last frame applies at each frame -- 1 at the held frame, easing
    (smoothstep, so no speed is added at the key) to 0 across the range, or
    across ``fade`` frames when only one end is held."""
    i = np.arange(n, dtype=np.float64)
    zero = np.zeros(n)
    if n < 2:
        return (np.ones(n) if hold_start else zero), (np.ones(n) if hold_end and not hold_start else zero)
    if hold_start and hold_end:
        w_end = smoothstep(i / (n - 1))
        return 1.0 - w_end, w_end
    span = float(max(1, min(n - 1, fade if fade else n - 1)))
    if hold_start:
        return 1.0 - smoothstep(i / span), zero
    if hold_end:
        return zero, 1.0 - smoothstep((n - 1 - i) / span)
    return zero, zero


def blend_to_held(q: np.ndarray, w_start: np.ndarray, w_end: np.ndarray,
                  held_start: np.ndarray | None, held_end: np.ndarray | None) -> np.ndarray:
    """Rotations (T, 4) corrected so the first frame equals ``held_start``
    and the last ``held_end`` (either may be None), the correction rotation
    of each end scaled by its weight (see :func:`hold_weights`)."""
    out = quat_normalize(q)
    if held_start is not None:
        c = quat_mul(held_start, quat_conjugate(out[0]))
        out = quat_mul(quat_power(c, w_start), out)
    if held_end is not None:
        c = quat_mul(held_end, quat_conjugate(out[-1]))
        out = quat_mul(quat_power(c, w_end), out)
    return quat_normalize(out)


def blend_points_to_held(p: np.ndarray, w_start: np.ndarray, w_end: np.ndarray,
                         held_start: np.ndarray | None, held_end: np.ndarray | None) -> np.ndarray:
    """Points (T, 3) shifted so the ends meet ``held_start`` / ``held_end``,
    each shift scaled by its weight."""
    out = np.array(p, dtype=np.float64, copy=True)
    if held_start is not None:
        out += w_start[:, None] * (np.asarray(held_start) - p[0])
    if held_end is not None:
        out += w_end[:, None] * (np.asarray(held_end) - p[-1])
    return out


def swing_matrix(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Shortest-arc rotation (..., 3, 3) taking direction u onto direction v
    (both (..., 3), any length). Opposite vectors turn half a turn about an
    axis perpendicular to u."""
    u = normalize(np.asarray(u, dtype=np.float64))
    v = normalize(np.asarray(v, dtype=np.float64))
    u, v = np.broadcast_arrays(u, v)
    axis = np.cross(u, v)
    c = (u * v).sum(-1)
    # (1 + c) q with q = (1 + c, u x v): the half-way quaternion, unnormalised
    q = np.concatenate([(1.0 + c)[..., None], axis], -1)
    opposite = (1.0 + c) < 1e-9
    if np.any(opposite):
        helper = np.where(np.abs(u[..., :1]) < 0.9, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
        perp = normalize(np.cross(u, helper))
        q_opp = np.concatenate([np.zeros(c.shape + (1,)), perp], -1)
        q = np.where(opposite[..., None], q_opp, q)
    return quat_to_matrix(q)


def frame_alignment(u1: np.ndarray, u2: np.ndarray, v1: np.ndarray, v2: np.ndarray) -> np.ndarray:
    """Rotation taking direction u1 exactly onto v1 and turning about it so
    that u2 (a secondary, e.g. the hip line) lies in the plane of v1 and v2.
    Falls back to :func:`swing_matrix` when u2 or v2 is parallel to its primary."""
    def basis(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
        a = normalize(np.asarray(a, dtype=np.float64))
        b = np.asarray(b, dtype=np.float64) - (np.asarray(b, dtype=np.float64) @ a) * a
        if np.linalg.norm(b) < 1e-6:
            return None
        b = normalize(b)
        return np.stack([a, b, np.cross(a, b)], axis=-1)
    bu, bv = basis(u1, u2), basis(v1, v2)
    if bu is None or bv is None:
        return swing_matrix(u1, v1)
    return bv @ bu.T


def rotation_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def orthonormalize(m: np.ndarray) -> np.ndarray:
    """Nearest rotation to each (..., 3, 3) matrix (drops scale and shear)."""
    u, _, vt = np.linalg.svd(np.asarray(m, dtype=np.float64))
    r = u @ vt
    det = np.linalg.det(r)
    if np.any(det < 0):                                      # a mirror: flip the weakest axis
        u = u.copy()
        u[det < 0, :, -1] *= -1
        r = u @ vt
    return r


def unscale(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation times scale -> the rotation (columns normalised;
    cheap, exact for rotations with any per-axis scale, no shear)."""
    m = np.asarray(m, dtype=np.float64)
    return m / np.maximum(np.linalg.norm(m, axis=-2, keepdims=True), _EPS)


def decompose(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 4x4 object matrix -> (rotation 3x3, scale (3,), translation (3,)),
    for matrices without shear (Blender's object transforms)."""
    m = np.asarray(matrix, dtype=np.float64)
    lin = m[:3, :3]
    scale = np.linalg.norm(lin, axis=0)
    rot = orthonormalize(lin / np.maximum(scale, _EPS))
    if np.linalg.det(lin) < 0:
        scale = scale.copy()
        scale[0] = -scale[0]
    return rot, scale, m[:3, 3].copy()


def compose(rot: np.ndarray, loc: np.ndarray | None = None, scale: np.ndarray | None = None) -> np.ndarray:
    """(..., 3, 3) rotation (+ (..., 3) location, (..., 3) scale) -> (..., 4, 4)."""
    rot = np.asarray(rot, dtype=np.float64)
    out = np.zeros(rot.shape[:-2] + (4, 4))
    lin = rot if scale is None else rot * np.asarray(scale, dtype=np.float64)[..., None, :]
    out[..., :3, :3] = lin
    if loc is not None:
        out[..., :3, 3] = loc
    out[..., 3, 3] = 1.0
    return out


def inverse3(m: np.ndarray) -> np.ndarray:
    """Inverse of (..., 3, 3) matrices from cross products. Element-wise numpy,
    no LAPACK call: ``np.linalg.inv`` on small matrices wakes BLAS threads,
    which on a busy machine costs milliseconds per call."""
    m = np.asarray(m, dtype=np.float64)
    c0, c1, c2 = m[..., :, 0], m[..., :, 1], m[..., :, 2]
    rows = np.stack([np.cross(c1, c2), np.cross(c2, c0), np.cross(c0, c1)], axis=-2)
    det = (c0 * rows[..., 0, :]).sum(-1)
    return rows / det[..., None, None]


def affine_inverse(m: np.ndarray) -> np.ndarray:
    """Inverse of (..., 4, 4) affine matrices (last row 0, 0, 0, 1), see :func:`inverse3`."""
    m = np.asarray(m, dtype=np.float64)
    inv = np.zeros_like(m)
    lin = inverse3(m[..., :3, :3])
    inv[..., :3, :3] = lin
    inv[..., :3, 3] = -np.einsum("...ij,...j->...i", lin, m[..., :3, 3])
    inv[..., 3, 3] = 1.0
    return inv


def transform_points(m: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(..., 4, 4) @ (..., 3) points."""
    m = np.asarray(m, dtype=np.float64)
    return np.einsum("...ij,...j->...i", m[..., :3, :3], p) + m[..., :3, 3]


# ---------------------------------------------------------------------------
# axis conversion

def yup_to_zup(p: np.ndarray) -> np.ndarray:
    """Points or vectors (..., 3) from the engine's Y up to Blender's Z up."""
    return np.asarray(p, dtype=np.float64) @ Y_UP_TO_Z_UP.T


def zup_to_yup(p: np.ndarray) -> np.ndarray:
    """Points or vectors (..., 3) from Blender's Z up to the engine's Y up."""
    return np.asarray(p, dtype=np.float64) @ Y_UP_TO_Z_UP


def yup_to_zup_rotation(r: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) expressed in Z up: C R C^T."""
    return Y_UP_TO_Z_UP @ np.asarray(r, dtype=np.float64) @ Y_UP_TO_Z_UP.T


# ---------------------------------------------------------------------------
# skeletons

def forward_kinematics(local_quats: np.ndarray, root_pos: np.ndarray, offsets: np.ndarray,
                       parents: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """World positions (T, J, 3) and rotation matrices (T, J, 3, 3) of a tree
    skeleton whose parents come before their children."""
    local = quat_to_matrix(local_quats)
    n_t, n_j = local.shape[:2]
    world = np.empty_like(local)
    pos = np.empty((n_t, n_j, 3))
    offsets = np.asarray(offsets, dtype=np.float64)
    for j, p in enumerate(parents):
        if p < 0:
            world[:, j] = local[:, j]
            pos[:, j] = root_pos
        else:
            world[:, j] = world[:, p] @ local[:, j]
            pos[:, j] = pos[:, p] + world[:, p] @ offsets[j]
    return pos, world


def rest_positions(offsets: np.ndarray, parents: Sequence[int]) -> np.ndarray:
    """(J, 3) joint positions of the rest pose (identity rotations, root at 0)."""
    offsets = np.asarray(offsets, dtype=np.float64)
    pos = np.zeros((len(parents), 3))
    for j, p in enumerate(parents):
        if p >= 0:
            pos[j] = pos[p] + offsets[j]
    return pos


def main_children(parents: Sequence[int], offsets: np.ndarray) -> list[int]:
    """Each joint's main child (-1 for leaves): its only child, or, where a
    joint has several (pelvis: spine and hips; chest: neck and collars), the
    one whose rest offset points most nearly up (+Y): the spine / neck."""
    offsets = np.asarray(offsets, dtype=np.float64)
    out = []
    for j in range(len(parents)):
        kids = [c for c, p in enumerate(parents) if p == j]
        if not kids:
            out.append(-1)
        elif len(kids) == 1:
            out.append(kids[0])
        else:
            up = [offsets[c, 1] / max(np.linalg.norm(offsets[c]), _EPS) for c in kids]
            out.append(kids[int(np.argmax(up))])
    return out


def topological_order(parents: Sequence[int]) -> list[int]:
    """Indices ordered so that every parent comes before its children."""
    parents = list(parents)
    depth = [0] * len(parents)
    for i in range(len(parents)):
        d, p, seen = 0, parents[i], 0
        while p >= 0:
            d += 1
            p = parents[p]
            seen += 1
            if seen > len(parents):
                raise RetargetError("the bone hierarchy has a cycle")
        depth[i] = d
    return sorted(range(len(parents)), key=lambda i: (depth[i], i))


def leg_length(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray) -> float:
    """Hip-to-knee plus knee-to-ankle length (any units)."""
    return float(np.linalg.norm(np.asarray(knee) - hip) + np.linalg.norm(np.asarray(ankle) - knee))


def leg_scale(rig_leg: float, engine_leg: float) -> float:
    """Factor that scales the engine's root motion to the rig: rig leg length
    (world units) / engine leg length (metres)."""
    if not (np.isfinite(rig_leg) and np.isfinite(engine_leg)) or rig_leg <= 0 or engine_leg <= 0:
        raise RetargetError(f"cannot scale root motion: leg lengths must be positive "
                            f"(rig {rig_leg!r}, motion {engine_leg!r})")
    return float(rig_leg / engine_leg)


def facing_rotation(left: np.ndarray) -> np.ndarray:
    """Rotation about Blender's Z (up) that turns the engine's left (+X in
    Blender after :func:`yup_to_zup`) onto the rig's ``left`` vector (e.g.
    left hip minus right hip), so a rig turned on its own keeps its heading.
    A rig facing -Y (Blender's front view) gives the identity."""
    left = np.asarray(left, dtype=np.float64)
    if np.hypot(left[0], left[1]) < 1e-9:
        return np.eye(3)
    return rotation_z(float(np.arctan2(left[1], left[0])))


# ---------------------------------------------------------------------------
# the engine's motion dict

@dataclass
class EngineMotion:
    """The engine's motion (the JSON dict the add-on receives), as arrays."""
    fps: float
    joint_names: tuple[str, ...]
    parents: np.ndarray
    rest_offsets: np.ndarray       # (J, 3) metres, Y up
    local_quats: np.ndarray        # (T, J, 4)
    root_translation: np.ndarray   # (T, 3)
    joint_positions: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.local_quats.shape[0])

    @classmethod
    def from_dict(cls, d: Mapping) -> "EngineMotion":
        if not isinstance(d, Mapping):
            raise RetargetError(f"a motion must be a dict, got {type(d).__name__}")
        missing = [k for k in ("fps", "local_quats", "root_translation") if k not in d]
        if missing:
            raise RetargetError(f"the motion lacks {', '.join(missing)}; expected the engine's motion dict "
                                f"with fps, joint_names, parents, rest_offsets, local_quats, root_translation")
        names = tuple(d.get("joint_names") or JOINT_NAMES)
        parents = np.asarray(d.get("parents", PARENTS), dtype=np.int64)
        try:
            quats = np.asarray(d["local_quats"], dtype=np.float64)
            root = np.asarray(d["root_translation"], dtype=np.float64)
            offsets = np.asarray(d.get("rest_offsets", T_POSE_OFFSETS_M), dtype=np.float64)
            positions = d.get("joint_positions")
            positions = None if positions is None else np.asarray(positions, dtype=np.float64)
            fps = float(d["fps"])
        except (TypeError, ValueError) as exc:
            raise RetargetError(f"the motion's arrays are not numeric: {exc}") from None
        n_j = len(names)
        if quats.ndim != 3 or quats.shape[1:] != (n_j, 4) or len(quats) < 1:
            raise RetargetError(f"local_quats must have shape (frames, {n_j}, 4), got {quats.shape}")
        if root.shape != (len(quats), 3):
            raise RetargetError(f"root_translation must have shape ({len(quats)}, 3), got {root.shape}")
        if offsets.shape != (n_j, 3) or parents.shape != (n_j,):
            raise RetargetError(f"rest_offsets must be ({n_j}, 3) and parents ({n_j},), "
                                f"got {offsets.shape} and {parents.shape}")
        if any(p >= j for j, p in enumerate(parents)):
            raise RetargetError("parents must list every joint after its parent")
        if not (np.isfinite(quats).all() and np.isfinite(root).all() and np.isfinite(offsets).all()):
            raise RetargetError("the motion contains NaN or infinite values")
        if not np.isfinite(fps) or fps <= 0:
            raise RetargetError(f"fps must be positive, got {fps}")
        return cls(fps=fps, joint_names=names, parents=parents, rest_offsets=offsets,
                   local_quats=quat_normalize(quats), root_translation=root, joint_positions=positions)


# ---------------------------------------------------------------------------
# the rig

@dataclass
class RigRest:
    """What the retargeting needs to know about an armature (armature space,
    as Blender stores it; see the module docstring)."""
    names: list[str]
    parents: np.ndarray          # (B,) index of each bone's parent, -1 for roots
    rest: np.ndarray             # (B, 4, 4) bone.matrix_local
    tails: np.ndarray            # (B, 3) bone.tail_local
    object_matrix: np.ndarray = field(default_factory=lambda: np.eye(4))   # armature matrix_world
    basis: np.ndarray | None = None   # (B, 4, 4) current matrix_basis (unmapped bones keep it)

    def __post_init__(self) -> None:
        self.parents = np.asarray(self.parents, dtype=np.int64)
        self.rest = np.asarray(self.rest, dtype=np.float64)
        self.tails = np.asarray(self.tails, dtype=np.float64)
        self.object_matrix = np.asarray(self.object_matrix, dtype=np.float64)
        if self.basis is None:
            self.basis = np.broadcast_to(np.eye(4), self.rest.shape).copy()
        self.basis = np.asarray(self.basis, dtype=np.float64)
        self.index = {n: i for i, n in enumerate(self.names)}
        # each bone's rest matrix relative to its parent's (its own for roots), for posing chains
        parent_rest = np.where((self.parents >= 0)[:, None, None], self.rest[np.maximum(self.parents, 0)], np.eye(4))
        self.rest_relative = affine_inverse(parent_rest) @ self.rest

    @property
    def size(self) -> float:
        """The rig's largest extent along an axis: its rest bone heads' (armature space)."""
        return float(np.ptp(self.rest[:, :3, 3], axis=0).max())

    def world_heads(self) -> np.ndarray:
        return transform_points(self.object_matrix, self.rest[:, :3, 3])

    def world_tails(self) -> np.ndarray:
        return transform_points(self.object_matrix, self.tails)

    def world_rest_rotations(self) -> np.ndarray:
        obj_rot = decompose(self.object_matrix)[0]
        return obj_rot @ orthonormalize(self.rest[:, :3, :3])

    def ancestors(self, b: int) -> list[int]:
        out = []
        p = int(self.parents[b])
        while p >= 0:
            out.append(p)
            p = int(self.parents[p])
        return out

    def with_ancestors(self, bones) -> set[int]:
        """``bones`` and every bone above them: what evaluating them needs."""
        needed: set[int] = set()
        for b in bones:
            needed.add(b)
            needed.update(self.ancestors(b))
        return needed


def parent_frame(rig: RigRest, pose: Mapping[int, np.ndarray], b: int, n_frames: int) -> np.ndarray:
    """(T, 4, 4) armature-space frame bone ``b``'s basis acts in, from its
    parent's pose (already in ``pose``): ``pose[b] = parent_frame @ basis[b]``."""
    p = int(rig.parents[b])
    rel = rig.rest_relative[b]
    return np.broadcast_to(rel, (n_frames, 4, 4)) if p < 0 else pose[p] @ rel


def pose_chain(rig: RigRest, basis: Mapping[int, np.ndarray], bones: Sequence[int],
               n_frames: int) -> dict[int, np.ndarray]:
    """Armature-space pose matrices (T, 4, 4) of ``bones`` and their
    ancestors: Blender's evaluation without constraints, with the per-frame
    ``basis`` (T, 4, 4) where given, else the rig's static basis."""
    needed = rig.with_ancestors(bones)
    pose: dict[int, np.ndarray] = {}
    for b in topological_order(rig.parents):
        if b not in needed:
            continue
        bas = basis.get(b)
        pose[b] = parent_frame(rig, pose, b, n_frames) @ (rig.basis[b] if bas is None else bas)
    return pose


# ---------------------------------------------------------------------------
# retargeting

@dataclass
class RetargetResult:
    """Per-frame pose-bone channels to key, plus what was decided."""
    quats: dict[str, np.ndarray]          # bone -> (T, 4) matrix_basis rotation (w, x, y, z)
    root_bone: str | None
    root_location: np.ndarray | None      # (T, 3) matrix_basis location of the root bone
    scale: float                          # rig leg length / engine leg length
    facing: np.ndarray                    # (3, 3) rotation about Z applied to the motion
    joint_to_bone: dict[str, str]
    skipped_joints: list[str]             # engine joints with no bone
    predicted_heads: dict[str, np.ndarray]   # joint -> (T, 3) world head of its bone (no constraints)
    predicted_rotations: dict[str, np.ndarray]  # joint -> (T, 3, 3) world rotation of its bone

    @property
    def num_frames(self) -> int:
        return len(next(iter(self.quats.values()))) if self.quats else 0


def _rig_joint_points(rig: RigRest, mapping: Mapping[str, str]) -> dict[str, np.ndarray]:
    heads = rig.world_heads()
    return {j: heads[rig.index[b]] for j, b in mapping.items()}


def rig_facing(rig: RigRest, mapping: Mapping[str, str]) -> np.ndarray:
    """:func:`facing_rotation` from the rig's rest hip line (or, without
    both thighs, its upper-arm line)."""
    pts = _rig_joint_points(rig, mapping)
    for a, b in (("left_hip", "right_hip"), ("left_shoulder", "right_shoulder"), ("left_collar", "right_collar")):
        if a in pts and b in pts:
            return facing_rotation(pts[a] - pts[b])
    return np.eye(3)


def rig_leg_length(rig: RigRest, mapping: Mapping[str, str]) -> float:
    """Mean hip-knee-ankle length of the rig's rest pose in world units
    (an ankle the map lacks is taken at the shin bone's tail)."""
    heads, tails = rig.world_heads(), rig.world_tails()
    lengths = []
    for side in ("left_", "right_"):
        hip, knee, ankle = (mapping.get(side + n) for n in ("hip", "knee", "ankle"))
        if hip is None or knee is None:
            continue
        h, k = heads[rig.index[hip]], heads[rig.index[knee]]
        a = heads[rig.index[ankle]] if ankle is not None else tails[rig.index[knee]]
        lengths.append(leg_length(h, k, a))
    if not lengths:
        raise RetargetError("the bone map has no thigh and shin bones, so the root motion cannot be scaled")
    return float(np.mean(lengths))


def engine_leg_length(offsets: np.ndarray, names: Sequence[str]) -> float:
    idx = {n: i for i, n in enumerate(names)}
    lengths = [np.linalg.norm(offsets[idx[s + "knee"]]) + np.linalg.norm(offsets[idx[s + "ankle"]])
               for s in ("left_", "right_") if s + "knee" in idx and s + "ankle" in idx]
    if not lengths:
        raise RetargetError("the motion's skeleton has no knees and ankles")
    return float(np.mean(lengths))


FLOOR_PERCENTILE = 40.0
"""Which frames count as standing: the lowest foot point of a motion is
matched to the floor at this percentile over frames -- a supporting foot's
level rather than a brief dip below the floor, and still the ground for a
run, whose feet are off it a third of the time. Measured on generated walks,
runs and waves (Human metarig, SMPL rig): at 20 the median frame floats
1.4-2.9 cm, at 40 0.1-1.2 cm."""


def motion_floor(foot_heights: np.ndarray) -> float:
    """The height of the floor a motion stands on, from its foot joints'
    heights (T, n): the :data:`FLOOR_PERCENTILE` of the lowest foot in each frame."""
    return float(np.percentile(np.asarray(foot_heights).min(axis=1), FLOOR_PERCENTILE))


def foot_points(rig: RigRest, pose: np.ndarray, b: int) -> np.ndarray:
    """(T, 2, 3) world head and tail of bone ``b`` posed at armature-space ``pose`` (T, 4, 4)."""
    tail = affine_inverse(rig.rest[b]) @ np.append(rig.tails[b], 1.0)          # the tail in the bone's own frame
    pts = np.stack([pose[:, :3, 3], pose[:, :3, :3] @ tail[:3] + pose[:, :3, 3]], axis=1)
    return transform_points(rig.object_matrix, pts)


def hip_centre(pos: np.ndarray, jidx: Mapping[str, int], mapping: Mapping[str, str]) -> np.ndarray:
    """(T, 3) midpoint of the two hip joints of an engine motion (the pelvis
    when the map lacks a thigh)."""
    if "left_hip" in mapping and "right_hip" in mapping:
        return 0.5 * (pos[:, jidx["left_hip"]] + pos[:, jidx["right_hip"]])
    return pos[:, jidx["pelvis"]]


def rig_hip_centre(rig: RigRest, mapping: Mapping[str, str]) -> np.ndarray:
    """(3,) world midpoint of the rig's two thigh heads at rest (its hips
    bone's head when the map lacks a thigh): where the engine's hip centre goes."""
    heads = rig.world_heads()
    if "left_hip" in mapping and "right_hip" in mapping:
        return 0.5 * (heads[rig.index[mapping["left_hip"]]] + heads[rig.index[mapping["right_hip"]]])
    return heads[rig.index[mapping["pelvis"]]]


def retarget(motion: EngineMotion, rig: RigRest, mapping: Mapping[str, str], *,
             root_motion: str = "relative", keep_rig_facing: bool = True,
             root_offset: np.ndarray | None = None) -> RetargetResult:
    """Pose-bone channels that make ``rig`` follow ``motion``.

    mapping: engine joint name -> bone name (joints without a bone are
    skipped). root_motion: "relative" (the hip centre -- between the thigh
    heads -- starts where the rig's stands, horizontally; its height puts the
    rig's ankles at their rest height when the engine's rest on its floor,
    see :func:`motion_floor`),
    "absolute" (armature origin + leg-scaled engine hip centre) or "none"
    (no location channel); the hips bone keeps its rest offset from the hip
    centre. keep_rig_facing: turn the
    motion about Z so the engine's forward is the rig's forward.
    root_offset: a world (x, y) shift of the relative root motion, so a walk
    along a curve can start at the curve's start instead of where the rig
    stands.
    """
    if root_motion not in ROOT_MOTION_MODES:
        raise RetargetError(f"root_motion must be one of {ROOT_MOTION_MODES}, got {root_motion!r}")
    names = motion.joint_names
    jidx = {n: i for i, n in enumerate(names)}
    unknown = sorted(set(mapping) - set(jidx))
    if unknown:
        raise RetargetError(f"the bone map names joints the motion does not have: {', '.join(unknown)}")
    absent = sorted(b for b in mapping.values() if b not in rig.index)
    if absent:
        raise RetargetError(f"the bone map names bones this rig does not have: {', '.join(absent)}")
    used: dict[str, str] = {}
    for j, b in mapping.items():
        if b in used:
            raise RetargetError(f"bone {b!r} is mapped to both {used[b]} and {j}; map each bone once")
        used[b] = j
    if "pelvis" not in mapping:
        raise RetargetError("the bone map has no bone for the hips (pelvis)")

    n_t = motion.num_frames
    parents = [int(p) for p in motion.parents]
    main = main_children(parents, motion.rest_offsets)

    # engine motion in Blender's Z up, turned to the rig's heading
    facing = rig_facing(rig, mapping) if keep_rig_facing else np.eye(3)
    to_rig = facing @ Y_UP_TO_Z_UP
    pos_y, rot_y = forward_kinematics(motion.local_quats, motion.root_translation, motion.rest_offsets, parents)
    pos = pos_y @ to_rig.T
    rot = to_rig @ rot_y @ to_rig.T
    rest = rest_positions(motion.rest_offsets, parents) @ to_rig.T

    heads_w = rig.world_heads()
    rest_rot_w = rig.world_rest_rotations()
    obj_rot = decompose(rig.object_matrix)[0]
    rig_size = max(float(np.ptp(heads_w, axis=0).max()), _EPS)

    mapped = {jidx[j]: rig.index[b] for j, b in mapping.items()}

    def mapped_descendant(j: int) -> int:
        c = main[j]
        while c >= 0 and c not in mapped:
            c = main[c]
        return c

    world_rot: dict[int, np.ndarray] = {}   # bone -> (T, 3, 3) desired world rotation
    align: dict[int, np.ndarray] = {}       # joint -> A_j
    for j in range(len(names)):            # engine order: parents first (for degenerate fallbacks)
        if j not in mapped:
            continue
        b = mapped[j]
        p = parents[j]
        if names[j] in RIGID_LEAVES and p in mapped and mapped[p] in world_rot:
            # the engine's toe joint ends its skeleton: it has no rotation of its own to follow,
            # so the toes keep their rest pose on the foot (flat when the foot stands flat)
            bp = mapped[p]
            world_rot[b] = world_rot[bp] @ rest_rot_w[bp].T @ rest_rot_w[b]
            align[j] = align[p]
            continue
        c = mapped_descendant(j)
        v_t = None
        if c >= 0:
            u = heads_w[mapped[c]] - heads_w[b]
            v_rest = rest[c] - rest[j]
            v_t = pos[:, c] - pos[:, j]
        elif main[j] >= 0:
            u = rest_rot_w[b][:, 1]
            v_rest = rest[main[j]] - rest[j]
            v_t = pos[:, main[j]] - pos[:, j]
        else:                               # leaf (head, hands, toes): its own bone direction
            p = parents[j]
            u = rest_rot_w[b][:, 1]
            v_rest = rest[j] - rest[p] if p >= 0 else np.array([0.0, 0.0, 1.0])
        if np.linalg.norm(u) < 1e-6 * rig_size or np.linalg.norm(v_rest) < _EPS:
            # no usable direction (a control bone sitting on its child's head):
            # reuse the nearest mapped ancestor's alignment, keep the twist
            a = parents[j]
            while a >= 0 and a not in align:
                a = parents[a]
            align[j] = align[a] if a >= 0 else np.eye(3)
            world_rot[b] = rot[:, j] @ align[j] @ rest_rot_w[b]
            continue
        align[j] = swing_matrix(u, v_rest)
        twisted = False
        for left, right in TWIST_PAIRS.get(names[j], ()):
            if left in mapping and right in mapping and left in jidx and right in jidx:
                u2 = heads_w[rig.index[mapping[left]]] - heads_w[rig.index[mapping[right]]]
                v2 = rest[jidx[left]] - rest[jidx[right]]
                align[j] = frame_alignment(u, u2, v_rest, v2)
                twisted = True
                break
        q = rot[:, j] @ align[j]
        # Hips and chest follow the engine joint's whole frame (their left-right
        # line matters as much as the spine direction); chain bones are swung
        # onto the engine's direction to their next mapped joint, which folds in
        # the rotation of engine joints the rig lacks.
        if v_t is not None and not twisted:
            ok = np.linalg.norm(v_t, axis=-1) > _EPS
            s = swing_matrix(q @ normalize(u), np.where(ok[:, None], v_t, q @ normalize(u)))
            q = s @ q
        world_rot[b] = q @ rest_rot_w[b]

    # root translation: the rig's hip centre (between its thigh heads) follows
    # the engine's hip centre, so the legs -- not one bone's head, which sits
    # at a different height on every rig -- decide how high the body stands
    root_b = mapped[jidx["pelvis"]]
    pelvis = jidx["pelvis"]
    scale = leg_scale(rig_leg_length(rig, mapping), engine_leg_length(motion.rest_offsets, names))
    root_world = None
    if root_motion in ("absolute", "relative"):
        hip_eng = hip_centre(pos, jidx, mapping)
        hip_rig_rest = rig_hip_centre(rig, mapping)
        if root_motion == "absolute":
            hip_world = rig.object_matrix[:3, 3] + scale * hip_eng
        else:
            # the ankles stand as high as in the rig's rest pose when the engine's stand on its floor
            # (matching the balls of the feet instead would carry over the engine's foot shape)
            feet = [jidx[n] for n in ("left_ankle", "right_ankle") if n in mapping] or \
                [jidx[n] for n in ("left_foot", "right_foot", "left_knee", "right_knee") if n in mapping]
            floor_rig = min(heads_w[mapped[f]][2] for f in feet)
            floor_eng = motion_floor(pos[:, feet, 2])
            hip_world = np.empty((n_t, 3))
            hip_world[:, :2] = hip_rig_rest[:2] + scale * (hip_eng[:, :2] - hip_eng[0, :2])
            hip_world[:, 2] = floor_rig + scale * (hip_eng[:, 2] - floor_eng)
            if root_offset is not None:
                hip_world[:, :2] += np.asarray(root_offset, dtype=np.float64)[:2]
        # the root bone's head keeps its rest offset from the hip centre, turned with the bone
        turn = world_rot[root_b] @ rest_rot_w[root_b].T
        root_world = hip_world + turn @ (heads_w[root_b] - hip_rig_rest)

    # solve matrix_basis through the rig's own hierarchy
    inv_obj = affine_inverse(rig.object_matrix)
    needed = rig.with_ancestors(world_rot)

    def solve(root_world: np.ndarray | None) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
        basis: dict[int, np.ndarray] = {}
        pose: dict[int, np.ndarray] = {}
        for b in topological_order(rig.parents):
            if b not in needed:
                continue
            k = parent_frame(rig, pose, b, n_t)
            static = rig.basis[b]
            if b in world_rot:
                r_arm = obj_rot.T @ world_rot[b]
                k_rot = unscale(k[:, :3, :3])
                b_rot = np.swapaxes(k_rot, -1, -2) @ r_arm
                b_scale = np.linalg.norm(static[:3, :3], axis=0)
                if b == root_b and root_world is not None:
                    h_arm = transform_points(inv_obj, root_world)
                    b_loc = np.einsum("tij,tj->ti", inverse3(k[:, :3, :3]), h_arm - k[:, :3, 3])
                else:
                    b_loc = np.broadcast_to(static[:3, 3], (n_t, 3))
                basis[b] = compose(b_rot, b_loc, b_scale)
                pose[b] = k @ basis[b]
            else:
                pose[b] = k @ static
        return basis, pose

    basis, pose = solve(root_world)
    if root_motion == "relative":
        # stand the rig's own feet on its rest floor: the engine's foot shape is not the rig's, so
        # a supporting foot's lowest point (heads and tails of the foot and toe bones) decides the height
        feet = [mapped[jidx[n]] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot") if n in mapping]
        if feet:
            lowest = np.min([foot_points(rig, pose[b], b)[..., 2] for b in feet], axis=(0, 2))
            rest_floor = min(float(foot_points(rig, rig.rest[b][None], b)[..., 2].min()) for b in feet)
            root_world = root_world + np.array([0.0, 0.0, rest_floor - float(np.percentile(lowest, FLOOR_PERCENTILE))])
            basis, pose = solve(root_world)

    quats: dict[str, np.ndarray] = {}
    for b, m in basis.items():
        quats[rig.names[b]] = quat_continuity(matrix_to_quat(unscale(m[:, :3, :3])))
    root_location = None
    if root_world is not None:
        root_location = basis[root_b][:, :3, 3].copy()

    inv_map = {b: names[j] for j, b in mapped.items()}
    heads_pred = {inv_map[b]: transform_points(rig.object_matrix, pose[b][:, :3, 3]) for b in basis}
    rots_pred = {inv_map[b]: obj_rot @ unscale(pose[b][:, :3, :3]) for b in basis}
    # order bones by rig hierarchy for stable F-curve creation
    order = [rig.names[b] for b in topological_order(rig.parents) if b in basis]
    return RetargetResult(quats={n: quats[n] for n in order}, root_bone=rig.names[root_b],
                          root_location=root_location, scale=scale, facing=facing,
                          joint_to_bone=dict(mapping), skipped_joints=[n for n in names if n not in mapping],
                          predicted_heads=heads_pred, predicted_rotations=rots_pred)


# ---------------------------------------------------------------------------
# reading a pose back

EULER_ORDERS: tuple[str, ...] = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")


def _axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    if axis == 0:
        rows = [[one, zero, zero], [zero, c, -s], [zero, s, c]]
    elif axis == 1:
        rows = [[c, zero, s], [zero, one, zero], [-s, zero, c]]
    else:
        rows = [[c, -s, zero], [s, c, zero], [zero, zero, one]]
    return np.stack([np.stack(r, -1) for r in rows], -2)


def euler_to_matrix(euler: np.ndarray, order: str = "XYZ") -> np.ndarray:
    """Blender Euler angles (..., 3) in radians (x, y, z) -> (..., 3, 3).
    Order "XYZ" rotates about X first, then Y, then Z: R = Rz @ Ry @ Rx."""
    if order not in EULER_ORDERS:
        raise RetargetError(f"unknown Euler order {order!r}")
    euler = np.asarray(euler, dtype=np.float64)
    r = None
    for ch in order:
        a = "XYZ".index(ch)
        m = _axis_rotation(a, euler[..., a])
        r = m if r is None else m @ r
    return r


def axis_angle_to_matrix(aa: np.ndarray) -> np.ndarray:
    """Blender axis-angle (..., 4) = (angle, x, y, z) -> (..., 3, 3)."""
    aa = np.asarray(aa, dtype=np.float64)
    return quat_to_matrix(quat_from_axis_angle(normalize(aa[..., 1:]), aa[..., 0]))


def basis_matrices(location: np.ndarray, rotation: np.ndarray, scale: np.ndarray, mode: str) -> np.ndarray:
    """Pose-bone channels -> matrix_basis (T, 4, 4). ``rotation`` is (T, 4)
    quaternions for mode QUATERNION, (T, 4) (angle, axis) for AXIS_ANGLE, or
    (T, 3) Euler angles for an Euler order."""
    if mode == "QUATERNION":
        rot = quat_to_matrix(rotation)
    elif mode == "AXIS_ANGLE":
        rot = axis_angle_to_matrix(rotation)
    else:
        rot = euler_to_matrix(rotation, mode)
    return compose(rot, location, scale)


def chain_fractions(chain: Sequence[int], offsets: np.ndarray = T_POSE_OFFSETS_M) -> np.ndarray:
    """Cumulative rest length along a joint chain, 0 at its first joint."""
    lengths = [0.0] + [float(np.linalg.norm(offsets[j])) for j in chain[1:]]
    return np.cumsum(lengths)


FILL_CHAINS: tuple[tuple[str, ...], ...] = (
    ("pelvis", "spine1", "spine2", "spine3", "neck", "head"),
    ("pelvis", "left_hip", "left_knee", "left_ankle", "left_foot"),
    ("pelvis", "right_hip", "right_knee", "right_ankle", "right_foot"),
    ("spine3", "left_collar", "left_shoulder", "left_elbow", "left_wrist"),
    ("spine3", "right_collar", "right_shoulder", "right_elbow", "right_wrist"),
)
"""Chains along which missing joints are filled (spine first: the arms hang
off spine3)."""


def fill_missing_joints(known: Mapping[str, np.ndarray], tails: Mapping[str, np.ndarray] | None = None,
                        offsets: np.ndarray = T_POSE_OFFSETS_M) -> np.ndarray:
    """(T, 22, 3) joint positions from the joints a rig has.

    known: joint -> (T, 3) position (its bone's head); tails: joint -> (T, 3)
    its bone's tail. A missing joint between two known ones on a chain lies
    between them at the canonical skeleton's length fraction (a missing
    spine2 is the midpoint-ish of spine1 and spine3); a missing joint at the
    end of a chain is the tail of the last known joint's bone (no toes: the
    foot bone's tail, i.e. the ball of the foot), further ones continue along
    that direction with canonical lengths scaled to the rig.
    """
    tails = tails or {}
    if "pelvis" not in known:
        raise RetargetError("cannot read the pose back without a hips (pelvis) bone")
    have: dict[str, np.ndarray] = {k: np.asarray(v, dtype=np.float64) for k, v in known.items()}
    for chain_names in FILL_CHAINS:
        chain = [JOINT_INDEX[n] for n in chain_names]
        cum = chain_fractions(chain, offsets)
        for i, name in enumerate(chain_names):
            if name in have:
                continue
            # chains are filled in order, so every joint before i is known by now
            prev = have[chain_names[i - 1]]
            nxt = next((k for k in range(i + 1, len(chain_names)) if chain_names[k] in have), None)
            if nxt is not None:
                w = (cum[i] - cum[i - 1]) / max(cum[nxt] - cum[i - 1], _EPS)
                have[name] = prev + w * (have[chain_names[nxt]] - prev)
            elif chain_names[i - 1] in tails and chain_names[i - 1] in known:
                have[name] = np.asarray(tails[chain_names[i - 1]], dtype=np.float64)
            elif i >= 2:
                seg = prev - have[chain_names[i - 2]]
                per_metre = np.linalg.norm(seg, axis=-1, keepdims=True) / max(cum[i - 1] - cum[i - 2], _EPS)
                have[name] = prev + normalize(seg) * per_metre * (cum[i] - cum[i - 1])
            else:
                have[name] = prev.copy()
    return np.stack([have[n] for n in JOINT_NAMES], axis=1)


def world_to_engine(points: np.ndarray, origin: np.ndarray, facing: np.ndarray, unit_scale: float = 1.0) -> np.ndarray:
    """Blender world points (..., 3) -> engine metres, Y up, facing +Z:
    relative to ``origin``, the rig's heading undone, Z up -> Y up."""
    p = (np.asarray(points, dtype=np.float64) - origin) @ facing      # facing^T p
    return zup_to_yup(p) * unit_scale
