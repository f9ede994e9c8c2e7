"""HumanML3D's 263-dimensional motion features, and the way back to joints.

The layout and semantics follow HumanML3D's ``motion_process.py`` exactly, so
a motion encoded here means the same to the official MotionGPT checkpoint:

====  ============  =====================================================
dims  slice         meaning (frame t, the body's facing frame of frame t)
====  ============  =====================================================
1     0             root yaw velocity (half-angle, radians per frame)
2     1:3           root velocity on the floor (x, z), metres per frame
1     3             root height, metres
63    4:67          joint positions 1..21 relative to the root (RIC)
126   67:193        joint rotations 1..21 as 6D (HumanML3D's per-bone IK)
66    193:259       joint velocities 0..21, metres per frame
4     259:263       foot contacts: left ankle, left foot, right ankle, right foot
====  ============  =====================================================

A clip of T frames gives T-1 feature rows (velocities need a next frame).

HumanML3D quirks kept on purpose, because the official models were trained
with them: the per-frame facing used by the rotation IK adds the hip vector
left-minus-right to the shoulder vector right-minus-left (the shoulders
dominate), and that facing is smoothed with a Gaussian of sigma 20 frames.
"""
from __future__ import annotations

import numpy as np

from ..errors import MotionShapeError
from . import skeleton as sk
from .quaternion import qbetween, qinv, qmul, qrot, quat_to_cont6d

FEATURE_DIM: int = 263
FOOT_CONTACT_THRESHOLD: float = 0.002
"""Squared per-frame displacement (m^2) under which a foot joint counts as
planted; HumanML3D's ``feet_thre``."""

_J = sk.NUM_JOINTS
ROOT_YAW_VEL = slice(0, 1)
ROOT_XZ_VEL = slice(1, 3)
ROOT_HEIGHT = slice(3, 4)
RIC = slice(4, 4 + (_J - 1) * 3)
ROT6D = slice(RIC.stop, RIC.stop + (_J - 1) * 6)
LOCAL_VEL = slice(ROT6D.stop, ROT6D.stop + _J * 3)
FOOT_CONTACT = slice(LOCAL_VEL.stop, LOCAL_VEL.stop + 4)
FEATURE_GROUPS: dict[str, slice] = {
    "root_yaw_vel": ROOT_YAW_VEL, "root_xz_vel": ROOT_XZ_VEL, "root_height": ROOT_HEIGHT,
    "ric": RIC, "rot6d": ROT6D, "local_vel": LOCAL_VEL, "foot_contact": FOOT_CONTACT,
}
assert FOOT_CONTACT.stop == FEATURE_DIM


def feature_column_name(column: int) -> str:
    """What one of the 263 columns holds, in words naming the joint, so a
    bad value in a built clip can be traced to a bone."""
    for group, part in FEATURE_GROUPS.items():
        if part.start <= column < part.stop:
            break
    else:
        raise IndexError(f"feature column {column} is outside 0..{FEATURE_DIM - 1}")
    offset = column - part.start
    if group == "ric":
        return f"position of {sk.JOINT_NAMES[1 + offset // 3]}"
    if group == "rot6d":
        return f"rotation of {sk.JOINT_NAMES[1 + offset // 6]}"
    if group == "local_vel":
        return f"velocity of {sk.JOINT_NAMES[offset // 3]}"
    if group == "foot_contact":
        return "foot contact"
    return group.replace("_", " ")


def check_joints(joints: np.ndarray, what: str = "joints") -> np.ndarray:
    """Validate a (T, 22, 3) array and return it as float64."""
    joints = np.asarray(joints)
    if joints.ndim != 3 or joints.shape[1:] != (_J, 3):
        raise MotionShapeError(
            f"{what} must have shape (frames, {_J}, 3) in the 22-joint SMPL order, got {joints.shape}")
    if len(joints) < 2:
        raise MotionShapeError(f"{what} needs at least 2 frames, got {len(joints)}")
    if not np.all(np.isfinite(joints)):
        raise MotionShapeError(f"{what} contains NaN or infinite values")
    return joints.astype(np.float64)


def check_features(features: np.ndarray, what: str = "features") -> np.ndarray:
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[1] != FEATURE_DIM:
        raise MotionShapeError(f"{what} must have shape (frames, {FEATURE_DIM}), got {features.shape}")
    if len(features) < 1:
        raise MotionShapeError(f"{what} is empty")
    if not np.all(np.isfinite(features)):
        raise MotionShapeError(f"{what} contains NaN or infinite values")
    return features.astype(np.float64)


def gaussian_smooth(x: np.ndarray, sigma: float, axis: int = 0) -> np.ndarray:
    """Gaussian filter with edge padding, equal to scipy's
    ``gaussian_filter1d(..., mode='nearest', truncate=4.0)`` (kept here so the
    engine does not need scipy)."""
    radius = int(4.0 * sigma + 0.5)
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (t / sigma) ** 2)
    kernel /= kernel.sum()
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, 0)
    padded = np.concatenate([np.repeat(x[:1], radius, 0), x, np.repeat(x[-1:], radius, 0)], axis=0)
    windows = np.lib.stride_tricks.sliding_window_view(padded, len(kernel), axis=0)
    out = windows @ kernel[::-1]
    return np.moveaxis(out, 0, axis)


def _normalize(v: np.ndarray) -> np.ndarray:
    return v / np.sqrt((v ** 2).sum(-1, keepdims=True))


def facing_rotation(joints: np.ndarray, smooth_sigma: float | None = None,
                    humanml3d_ik_quirk: bool = False) -> np.ndarray:
    """Yaw quaternion per frame that turns the body to face +Z.

    ``humanml3d_ik_quirk`` reproduces the sign mix-up of HumanML3D's
    Skeleton.inverse_kinematics_np (hips left-minus-right); the canonical
    facing (both vectors right-minus-left) is used everywhere else.
    """
    r_hip, l_hip, r_sdr, l_sdr = sk.FACE_JOINTS
    hips = joints[..., r_hip, :] - joints[..., l_hip, :]
    if humanml3d_ik_quirk:
        hips = -hips
    across = _normalize(hips + joints[..., r_sdr, :] - joints[..., l_sdr, :])
    forward = np.cross(np.array([0.0, 1.0, 0.0]), across)
    if smooth_sigma:
        forward = gaussian_smooth(forward, smooth_sigma, axis=0)
    forward = _normalize(forward)
    return qbetween(forward, np.array([0.0, 0.0, 1.0]))


def facing_yaw(joints: np.ndarray) -> np.ndarray:
    """Heading of the body per frame (radians about +Y, 0 = facing +Z), the
    facing of :func:`facing_rotation`: where a shot, a path or a turn-rate
    measure needs the direction the body faces as an angle."""
    forward = qrot(qinv(facing_rotation(joints)), np.broadcast_to([0.0, 0.0, 1.0], joints[..., 0, :].shape))
    return np.arctan2(forward[..., 0], forward[..., 2])


def humanml3d_ik(joints: np.ndarray, smooth_forward: bool = False) -> np.ndarray:
    """HumanML3D's per-bone inverse kinematics: quaternion at index c is the
    rotation of the bone ending at joint c, relative to the previous bone of
    its chain, measured against RAW_OFFSET_DIRECTIONS. Frame 0's root is
    identity. Swing only: positions carry no twist."""
    root = facing_rotation(joints, 20.0 if smooth_forward else None, humanml3d_ik_quirk=True)
    root[0] = (1.0, 0.0, 0.0, 0.0)
    quats = np.zeros(joints.shape[:-1] + (4,))
    quats[:, 0] = root
    for chain in sk.KINEMATIC_CHAINS:
        world = root
        for parent, child in zip(chain[:-1], chain[1:]):
            bone = _normalize(joints[:, child] - joints[:, parent])
            swing = qbetween(np.broadcast_to(sk.RAW_OFFSET_DIRECTIONS[child], bone.shape), bone)
            local = qmul(qinv(world), swing)
            quats[:, child] = local
            world = qmul(world, local)
    return quats


def humanml3d_fk(quats: np.ndarray, root_pos: np.ndarray,
                 offsets: np.ndarray = sk.CANONICAL_OFFSETS_M) -> np.ndarray:
    """Inverse of :func:`humanml3d_ik` on a skeleton with the given offsets."""
    joints = np.zeros(quats.shape[:-1] + (3,))
    joints[:, 0] = root_pos
    for chain in sk.KINEMATIC_CHAINS:
        world = quats[:, 0]
        for parent, child in zip(chain[:-1], chain[1:]):
            world = qmul(world, quats[:, child])
            joints[:, child] = joints[:, parent] + qrot(world, offsets[child])
    return joints


def uniform_skeleton(joints: np.ndarray, offsets: np.ndarray = sk.CANONICAL_OFFSETS_M) -> np.ndarray:
    """Re-pose the motion on the canonical body: same bone directions, canonical
    bone lengths, root path scaled by the leg-length ratio (HumanML3D)."""
    src_lengths = np.linalg.norm(joints[0] - joints[0, np.maximum(sk.PARENTS, 0)], axis=-1)
    src_offsets = sk.RAW_OFFSET_DIRECTIONS * src_lengths[:, None]
    scale = sk.leg_length(offsets) / sk.leg_length(src_offsets)
    quats = humanml3d_ik(joints)
    return humanml3d_fk(quats, joints[:, 0] * scale, offsets)


def canonicalize(joints: np.ndarray, retarget: bool = True) -> np.ndarray:
    """The positions the features encode: on the canonical body (if
    ``retarget``), feet on the floor, start at the origin, facing +Z."""
    joints = check_joints(joints)
    if retarget:
        joints = uniform_skeleton(joints)
    joints = joints.copy()
    joints[..., 1] -= joints[..., 1].min()
    joints -= joints[0, 0] * np.array([1.0, 0.0, 1.0])
    face = facing_rotation(joints[:1])[0]
    return qrot(np.broadcast_to(face, joints.shape[:-1] + (4,)), joints)


def foot_contacts(joints: np.ndarray, threshold: float = FOOT_CONTACT_THRESHOLD) -> np.ndarray:
    """(T-1, 4) 1.0 where a foot joint moves less than the threshold."""
    feet = joints[:, list(sk.FOOT_JOINTS)]
    step = ((feet[1:] - feet[:-1]) ** 2).sum(-1)
    return (step < threshold).astype(np.float64)


def joints_to_features(joints: np.ndarray, retarget: bool = True,
                       foot_threshold: float = FOOT_CONTACT_THRESHOLD) -> np.ndarray:
    """(T, 22, 3) joint positions in metres, Y up -> (T-1, 263) features."""
    positions = canonicalize(joints, retarget=retarget)
    n = len(positions)
    quats = humanml3d_ik(positions, smooth_forward=True)
    root_rot = quats[:, 0]

    root_vel = qrot(root_rot[1:], positions[1:, 0] - positions[:-1, 0])
    yaw_vel = qmul(root_rot[1:], qinv(root_rot[:-1]))
    yaw_vel = np.arcsin(np.clip(yaw_vel[:, 2:3], -1.0, 1.0))

    local = positions.copy()
    local[..., 0] -= local[:, :1, 0]
    local[..., 2] -= local[:, :1, 2]
    local = qrot(np.broadcast_to(root_rot[:, None], local.shape[:-1] + (4,)), local)

    rot6d = quat_to_cont6d(quats[:, 1:]).reshape(n, -1)
    ric = local[:, 1:].reshape(n, -1)
    local_vel = qrot(np.broadcast_to(root_rot[:-1, None], positions[1:].shape[:-1] + (4,)),
                     positions[1:] - positions[:-1]).reshape(n - 1, -1)
    return np.concatenate([
        yaw_vel, root_vel[:, [0, 2]], local[:-1, 0, 1:2],
        ric[:-1], rot6d[:-1], local_vel, foot_contacts(positions, foot_threshold),
    ], axis=-1)


def root_rotation_and_position(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integrate the root's yaw and floor velocities (HumanML3D's
    recover_root_rot_pos): yaw quaternions (T, 4) and root positions (T, 3)."""
    angle = np.concatenate([np.zeros(features.shape[:-2] + (1,)),
                            features[..., :-1, 0]], axis=-1).cumsum(-1)
    yaw = np.zeros(angle.shape + (4,))
    yaw[..., 0] = np.cos(angle)
    yaw[..., 2] = np.sin(angle)
    step = np.zeros(features.shape[:-1] + (3,))
    step[..., 1:, 0] = features[..., :-1, 1]
    step[..., 1:, 2] = features[..., :-1, 2]
    pos = qrot(qinv(yaw), step).cumsum(-2)
    pos[..., 1] = features[..., 3]
    return yaw, pos


def features_to_joints(features: np.ndarray) -> np.ndarray:
    """(T, 263) -> (T, 22, 3) joint positions (HumanML3D's recover_from_ric).
    Works on any leading batch shape."""
    features = np.asarray(features, dtype=np.float64)
    if features.shape[-1] != FEATURE_DIM:
        raise MotionShapeError(f"features must end in {FEATURE_DIM} values per frame, got {features.shape}")
    yaw, root = root_rotation_and_position(features)
    ric = features[..., RIC].reshape(features.shape[:-1] + (_J - 1, 3))
    ric = qrot(np.broadcast_to(qinv(yaw)[..., None, :], ric.shape[:-1] + (4,)), ric)
    ric[..., 0] += root[..., None, 0]
    ric[..., 2] += root[..., None, 2]
    return np.concatenate([root[..., None, :], ric], axis=-2)
